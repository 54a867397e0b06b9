//! How the code `#[rpc]` generates reads a method's params: by position (an
//! array) or by name (an object), one param at a time, so that a -32602 names
//! the param and the problem in the caller's words (`param "a": invalid type:
//! string "x", expected i64`, `missing param "b"`, `too many params: ...`)
//! instead of a private struct and positions in the params text.
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
use serde_json::value::RawValue;

use crate::{ErrorObject, Params};

/// The params of one call, split into one raw value per param (`N` params,
/// named `names` in declaration order). Nothing is allocated.
#[derive(Debug)]
pub struct ParamsDecoder<'a, const N: usize> {
    names: &'static [&'static str; N],
    values: [Option<&'a RawValue>; N],
}

impl<'a, const N: usize> ParamsDecoder<'a, N> {
    /// Splits `params`, or fails with -32602 when they are neither an array
    /// nor an object, hold more values than there are params, or name a
    /// param twice.
    pub fn new(params: Params<'a>, names: &'static [&'static str; N]) -> Result<Self, ErrorObject> {
        let mut decoder = ParamsDecoder {
            names,
            values: [None; N],
        };
        let Some(raw) = params.raw() else {
            return Ok(decoder);
        };
        let problem = match raw.get().trim_start().as_bytes().first() {
            Some(b'[') => decoder.split(raw, Form::Position),
            Some(b'{') => decoder.split(raw, Form::Name),
            other => Some(Problem::NotStructured(json_kind(other.copied()))),
        };
        match problem {
            Some(problem) => Err(ErrorObject::invalid_params(problem.describe(names))),
            None => Ok(decoder),
        }
    }

    /// Param `index` as a `T`.
    pub fn take<T: DeserializeOwned>(&self, index: usize) -> Result<T, ErrorObject> {
        let name = self.names[index];
        match self.values[index] {
            Some(raw) => serde_json::from_str(raw.get())
                .map_err(|e| ErrorObject::invalid_params(format_args!("param {name:?}: {}", without_position(&e)))),
            None => {
                T::deserialize(Absent).map_err(|_| ErrorObject::invalid_params(format_args!("missing param {name:?}")))
            }
        }
    }

    fn split(&mut self, raw: &'a RawValue, form: Form) -> Option<Problem> {
        let mut de = serde_json::Deserializer::from_str(raw.get());
        let visitor = Splitter { decoder: self };
        let result = match form {
            Form::Position => de.deserialize_seq(visitor),
            Form::Name => de.deserialize_map(visitor),
        };
        // The text was checked as JSON when the message was read, so only a
        // caller of `Methods::call` can get here with a syntax error.
        result.unwrap_or_else(|e| Some(Problem::Syntax(without_position(&e))))
    }
}

#[derive(Clone, Copy)]
enum Form {
    Position,
    Name,
}

/// Why the params as a whole are refused.
enum Problem {
    NotStructured(&'static str),
    TooMany(usize),
    Twice(usize),
    Syntax(String),
}

impl Problem {
    fn describe(&self, names: &[&str]) -> String {
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
            Problem::Syntax(reason) => reason.clone(),
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

/// Fills a decoder's values from an array or an object; yields the first
/// problem found, after reading the whole value (as serde_json requires).
struct Splitter<'d, 'a, const N: usize> {
    decoder: &'d mut ParamsDecoder<'a, N>,
}

impl<'de, const N: usize> Visitor<'de> for Splitter<'_, 'de, N> {
    type Value = Option<Problem>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an array or an object of params")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        for slot in &mut self.decoder.values {
            match seq.next_element::<&'de RawValue>()? {
                Some(raw) => *slot = Some(raw),
                None => return Ok(None),
            }
        }
        let mut given = N;
        while seq.next_element::<IgnoredAny>()?.is_some() {
            given += 1;
        }
        Ok((given > N).then_some(Problem::TooMany(given)))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut problem = None;
        while let Some(key) = map.next_key_seed(Key(self.decoder.names))? {
            let Some(index) = key else {
                map.next_value::<IgnoredAny>()?;
                continue;
            };
            let raw = map.next_value::<&'de RawValue>()?;
            match &mut self.decoder.values[index] {
                Some(_) => {
                    problem.get_or_insert(Problem::Twice(index));
                }
                empty => *empty = Some(raw),
            }
        }
        Ok(problem)
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
    use super::*;

    const NAMES: &[&str; 3] = &["title", "tags", "due"];

    fn decoder(text: &str) -> Result<ParamsDecoder<'_, 3>, ErrorObject> {
        let raw: &RawValue = serde_json::from_str(text).unwrap();
        ParamsDecoder::new(Params::new(Some(raw)), NAMES)
    }

    fn reason(e: ErrorObject) -> String {
        assert_eq!(e.code, -32602);
        e.data.unwrap().as_str().unwrap().to_owned()
    }

    #[test]
    fn reads_by_position_and_by_name() {
        for text in [
            r#"["t", ["a"], 3]"#,
            r#"{"due": 3, "tags": ["a"], "title": "t", "x": [1]}"#,
        ] {
            let d = decoder(text).unwrap();
            assert_eq!(d.take::<String>(0).unwrap(), "t");
            assert_eq!(d.take::<Vec<String>>(1).unwrap(), ["a"]);
            assert_eq!(d.take::<Option<i64>>(2).unwrap(), Some(3));
        }
    }

    #[test]
    fn an_absent_option_is_none_and_anything_else_is_missing() {
        let d = decoder(r#"["t"]"#).unwrap();
        assert_eq!(d.take::<Option<i64>>(2).unwrap(), None);
        assert_eq!(reason(d.take::<Vec<String>>(1).unwrap_err()), r#"missing param "tags""#);
        let none = ParamsDecoder::new(Params::new(None), NAMES).unwrap();
        assert_eq!(none.take::<Option<String>>(0).unwrap(), None);
    }

    #[test]
    fn refuses_params_as_a_whole_in_plain_words() {
        let too_many = decoder("[1, 2, 3, 4]").err().unwrap();
        assert_eq!(
            reason(too_many),
            "too many params: expected at most 3 (title, tags, due), got 4"
        );
        let twice = decoder(r#"{"tags": [], "tags": []}"#).err().unwrap();
        assert_eq!(reason(twice), r#"param "tags" is given twice"#);
        for (text, kind) in [
            ("1", "a number"),
            ("true", "a boolean"),
            ("null", "null"),
            (r#""x""#, "a string"),
        ] {
            let wrong = decoder(text).err().unwrap();
            let want = format!("params must be an array (by position) or an object (by name), not {kind}");
            assert_eq!(reason(wrong), want);
        }
    }

    #[test]
    fn a_wrong_value_names_its_param_without_positions() {
        let d = decoder(r#"[1, {"x": 1}, "soon"]"#).unwrap();
        assert_eq!(
            reason(d.take::<String>(0).unwrap_err()),
            r#"param "title": invalid type: integer `1`, expected a string"#
        );
        let tags = reason(d.take::<Vec<String>>(1).unwrap_err());
        assert_eq!(tags, r#"param "tags": invalid type: map, expected a sequence"#);
        let due = reason(d.take::<Option<i64>>(2).unwrap_err());
        assert_eq!(due, r#"param "due": invalid type: string "soon", expected i64"#);
    }
}
