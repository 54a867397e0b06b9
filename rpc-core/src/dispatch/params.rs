//! How the code `#[rpc]` generates reads a method's params: by position (an
//! array) or by name (an object), in one pass into one slot per param, so
//! that a -32602 names the param and the problem in the caller's words
//! (`param "a": invalid type: string "x", expected i64`, `missing param "b"`,
//! `too many params: ...`) instead of a private struct and positions in the
//! params text.
//!
//! A param that is absent (past the end of the array, or a key the object
//! lacks) is read as serde reads a missing struct field: an `Option<T>` is
//! `None`, any other type is a "missing param" error. By position only the
//! last params can be absent, so only trailing `Option<T>` params may be
//! left out there; by name, any `Option<T>` may. Keys that name no param are
//! ignored, as serde's derive does.

use std::fmt;

use serde::Deserializer;
use serde::de::{self, DeserializeOwned, DeserializeSeed, IgnoredAny, MapAccess, SeqAccess, Visitor};

use crate::wire::json;
use crate::{ErrorObject, Params};

/// The params of one method, one slot each, as the macro generates them: a
/// tuple struct of `Option<T>`s in declaration order.
pub trait ParamSlots {
    /// The params' names, in declaration order (the keys by name).
    const NAMES: &'static [&'static str];

    /// Whether param `index` has been read already.
    fn is_filled(&self, index: usize) -> bool;

    /// Reads param `index` from `value` into its slot.
    fn fill<'de, D: Deserializer<'de>>(&mut self, index: usize, value: D) -> Result<(), D::Error>;
}

/// A method without params: only `[]`, `{}` (any keys) or none fit.
impl ParamSlots for () {
    const NAMES: &'static [&'static str] = &[];

    fn is_filled(&self, _index: usize) -> bool {
        true
    }

    fn fill<'de, D: Deserializer<'de>>(&mut self, _index: usize, _value: D) -> Result<(), D::Error> {
        Ok(())
    }
}

/// Reads `params` into `slots` in one pass, or fails with -32602 when they
/// are neither an array nor an object, hold more values than there are
/// params, name a param twice, or hold a value its param's type refuses.
/// Slots of params not given stay empty: see [`param`].
pub fn decode<S: ParamSlots>(params: Params<'_>, slots: S) -> Result<S, ErrorObject> {
    let Some(raw) = params.raw() else {
        return Ok(slots);
    };
    let text = raw.get();
    let first = json::first_byte(text);
    if !matches!(first, Some(b'[' | b'{')) {
        let problem = Problem::NotStructured(json_kind(first));
        return Err(ErrorObject::invalid_params(problem.describe(S::NAMES, None)));
    }
    let mut reader = Reader { slots, problem: None };
    let mut de = serde_json::Deserializer::from_str(text);
    let result = match first {
        Some(b'[') => de.deserialize_seq(&mut reader),
        _ => de.deserialize_map(&mut reader),
    };
    match (result, reader.problem) {
        (Ok(()), None) => Ok(reader.slots),
        (result, Some(problem)) => {
            let error = result.err();
            Err(ErrorObject::invalid_params(problem.describe(S::NAMES, error.as_ref())))
        }
        // An array with more values than there are params: the pass stops
        // after the last param and serde_json refuses the rest, which are
        // counted here, not on every call. The text was checked as JSON when
        // the message was read, so only a caller of `Methods::call` can get
        // here with a syntax error.
        (Err(e), None) => Err(ErrorObject::invalid_params(match values_in(text) {
            Some(given) if first == Some(b'[') && given > S::NAMES.len() => {
                Problem::TooMany(given).describe(S::NAMES, None)
            }
            _ => without_position(&e),
        })),
    }
}

/// How many values the JSON array `text` holds (`None`: not an array).
fn values_in(text: &str) -> Option<usize> {
    serde_json::from_str::<Vec<IgnoredAny>>(text)
        .ok()
        .map(|values| values.len())
}

/// The value of param `name` from its slot. A param not given is read as
/// serde's derive reads a missing field: `Option<T>` as `None`; any other
/// type fails with -32602 "missing param".
pub fn param<T: DeserializeOwned>(slot: Option<T>, name: &str) -> Result<T, ErrorObject> {
    match slot {
        Some(value) => Ok(value),
        None => T::deserialize(Absent).map_err(|_| ErrorObject::invalid_params(format_args!("missing param {name:?}"))),
    }
}

/// Why the params are refused.
enum Problem {
    NotStructured(&'static str),
    TooMany(usize),
    Twice(usize),
    /// The value of param `index` is refused by its type (serde's message).
    Value(usize),
}

impl Problem {
    fn describe(&self, names: &[&str], error: Option<&serde_json::Error>) -> String {
        match self {
            Problem::NotStructured(kind) => {
                format!("params must be an array (by position) or an object (by name), not {kind}")
            }
            Problem::TooMany(given) if names.is_empty() => format!("too many params: expected none, got {given}"),
            Problem::TooMany(given) => format!(
                "too many params: expected at most {} ({}), got {given}",
                names.len(),
                names.join(", ")
            ),
            Problem::Twice(index) => format!("param {:?} is given twice", names[*index]),
            Problem::Value(index) => {
                let reason = error.map(without_position).unwrap_or_default();
                format!("param {:?}: {reason}", names[*index])
            }
        }
    }
}

/// "a string", "a number", ... for the first byte of a JSON value.
fn json_kind(first: Option<u8>) -> &'static str {
    match first {
        Some(b'"') => "a string",
        Some(b't' | b'f') => "a boolean",
        Some(b'n') => "null",
        _ => "a number",
    }
}

/// serde_json's message without its " at line L column C": the position is
/// in the text of one param, which the caller never sees on its own.
fn without_position(e: &serde_json::Error) -> String {
    let message = e.to_string();
    if e.line() == 0 {
        return message;
    }
    let position = format!(" at line {} column {}", e.line(), e.column());
    match message.strip_suffix(&position) {
        Some(rest) => rest.to_owned(),
        None => message,
    }
}

/// Fills the slots from an array or an object. On a problem it records
/// which, and stops the pass with an error that `decode` replaces.
struct Reader<S> {
    slots: S,
    problem: Option<Problem>,
}

impl<S> Reader<S> {
    fn stop<E: de::Error>(&mut self, problem: Problem) -> E {
        self.problem = Some(problem);
        E::custom("params refused")
    }
}

impl<'de, S: ParamSlots> Visitor<'de> for &mut Reader<S> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an array or an object of params")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        // Values past the last param are left unread: serde_json refuses
        // them, and `decode` counts them for its error.
        for index in 0..S::NAMES.len() {
            if seq
                .next_element_seed(Slot {
                    reader: &mut *self,
                    index,
                })?
                .is_none()
            {
                break;
            }
        }
        Ok(())
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while let Some(key) = map.next_key_seed(Key(S::NAMES))? {
            match key {
                None => {
                    map.next_value::<IgnoredAny>()?;
                }
                Some(index) if self.slots.is_filled(index) => return Err(self.stop(Problem::Twice(index))),
                Some(index) => map.next_value_seed(Slot {
                    reader: &mut *self,
                    index,
                })?,
            }
        }
        Ok(())
    }
}

/// One param's value, read into its slot; a refusal is recorded as the
/// param's.
struct Slot<'r, S> {
    reader: &'r mut Reader<S>,
    index: usize,
}

impl<'de, S: ParamSlots> DeserializeSeed<'de> for Slot<'_, S> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        let Slot { reader, index } = self;
        reader.slots.fill(index, deserializer).inspect_err(|_| {
            reader.problem = Some(Problem::Value(index));
        })
    }
}

/// An object key, as the index of the param it names (`None`: no param).
struct Key<'n>(&'n [&'static str]);

impl<'de> DeserializeSeed<'de> for Key<'_> {
    type Value = Option<usize>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for Key<'_> {
    type Value = Option<usize>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a param name")
    }

    fn visit_str<E: de::Error>(self, key: &str) -> Result<Self::Value, E> {
        Ok(self.0.iter().position(|name| *name == key))
    }
}

/// The value of a param that was not given: what serde's derive reads for a
/// missing field. `Option<T>` reads it as `None`; every other type fails.
struct Absent;

impl<'de> Deserializer<'de> for Absent {
    type Error = de::value::Error;

    fn deserialize_any<V: Visitor<'de>>(self, _visitor: V) -> Result<V::Value, Self::Error> {
        Err(de::Error::custom("missing"))
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Self::Error> {
        visitor.visit_none()
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string
        bytes byte_buf unit unit_struct newtype_struct seq tuple
        tuple_struct map struct enum identifier ignored_any
    }
}

#[cfg(test)]
mod tests {
    use serde_json::value::RawValue;

    use super::*;

    /// What the macro generates for `(title: String, tags: Vec<String>, due: Option<i64>)`.
    struct Slots(Option<String>, Option<Vec<String>>, Option<Option<i64>>);

    impl ParamSlots for Slots {
        const NAMES: &'static [&'static str] = &["title", "tags", "due"];

        fn is_filled(&self, index: usize) -> bool {
            match index {
                0 => self.0.is_some(),
                1 => self.1.is_some(),
                _ => self.2.is_some(),
            }
        }

        fn fill<'de, D: Deserializer<'de>>(&mut self, index: usize, value: D) -> Result<(), D::Error> {
            match index {
                0 => self.0 = Some(serde::Deserialize::deserialize(value)?),
                1 => self.1 = Some(serde::Deserialize::deserialize(value)?),
                _ => self.2 = Some(serde::Deserialize::deserialize(value)?),
            }
            Ok(())
        }
    }

    type Decoded = (String, Vec<String>, Option<i64>);

    fn read(text: &str) -> Result<Decoded, String> {
        let raw: &RawValue = serde_json::from_str(text).unwrap();
        read_params(Params::new(Some(raw)))
    }

    fn read_params(params: Params<'_>) -> Result<Decoded, String> {
        let reason = |e: ErrorObject| {
            assert_eq!(e.code, -32602);
            e.data.unwrap().as_str().unwrap().to_owned()
        };
        let Slots(title, tags, due) = decode(params, Slots(None, None, None)).map_err(reason)?;
        Ok((
            param(title, "title").map_err(reason)?,
            param(tags, "tags").map_err(reason)?,
            param(due, "due").map_err(reason)?,
        ))
    }

    #[test]
    fn reads_by_position_and_by_name() {
        let want = ("t".to_owned(), vec!["a".to_owned()], Some(3));
        assert_eq!(read(r#"["t", ["a"], 3]"#).unwrap(), want);
        assert_eq!(
            read(r#"{"due": 3, "tags": ["a"], "title": "t", "x": [1]}"#).unwrap(),
            want
        );
    }

    #[test]
    fn an_absent_option_is_none_and_anything_else_is_missing() {
        assert_eq!(read(r#"["t", []]"#).unwrap(), ("t".to_owned(), vec![], None));
        assert_eq!(
            read(r#"{"tags": [], "title": "t"}"#).unwrap(),
            ("t".to_owned(), vec![], None)
        );
        assert_eq!(read(r#"["t"]"#).unwrap_err(), r#"missing param "tags""#);
        assert_eq!(read_params(Params::new(None)).unwrap_err(), r#"missing param "title""#);
    }

    #[test]
    fn refuses_params_as_a_whole_in_plain_words() {
        let too_many = read(r#"["t", [], 1, 4]"#).unwrap_err();
        assert_eq!(
            too_many,
            "too many params: expected at most 3 (title, tags, due), got 4"
        );
        assert_eq!(
            read(r#"{"tags": [], "tags": []}"#).unwrap_err(),
            r#"param "tags" is given twice"#
        );
        for (text, kind) in [
            ("1", "a number"),
            ("true", "a boolean"),
            ("null", "null"),
            (r#""x""#, "a string"),
        ] {
            let want = format!("params must be an array (by position) or an object (by name), not {kind}");
            assert_eq!(read(text).unwrap_err(), want);
        }
    }

    #[test]
    fn a_wrong_value_names_its_param_without_positions() {
        let cases = [
            (
                r#"[1, [], null]"#,
                r#"param "title": invalid type: integer `1`, expected a string"#,
            ),
            (
                r#"["t", {"x": 1}]"#,
                r#"param "tags": invalid type: map, expected a sequence"#,
            ),
            (
                r#"{"title": "t", "tags": [], "due": "soon"}"#,
                r#"param "due": invalid type: string "soon", expected i64"#,
            ),
        ];
        for (text, want) in cases {
            assert_eq!(read(text).unwrap_err(), want);
        }
    }
}
