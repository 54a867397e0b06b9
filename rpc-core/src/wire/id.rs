//! The JSON-RPC request id: a number, a string, or `null`.

use std::fmt;

use serde::de::{self, Deserializer, Visitor};
use serde::{Deserialize, Serialize, Serializer};

/// A JSON-RPC 2.0 request id.
///
/// The spec allows a string, a number or `null` (numbers should be integers; a
/// fractional id is rejected as an invalid request). Ids are hashable so that
/// they can key the table of pending calls directly.
///
/// ```
/// use duplexrpc_core::Id;
/// let id: Id = serde_json::from_str("7").unwrap();
/// assert_eq!(id, Id::Number(7));
/// assert_eq!(serde_json::to_string(&Id::from("abc")).unwrap(), r#""abc""#);
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash, Default)]
pub enum Id {
    /// `null`: used in replies to requests whose id could not be read.
    #[default]
    Null,
    /// An integer id.
    Number(i64),
    /// A string id.
    String(String),
}

impl Id {
    /// Writes the id as JSON text to the end of `out`.
    pub(crate) fn write_json(&self, out: &mut String) {
        match self {
            Id::Null => out.push_str("null"),
            Id::Number(n) => {
                use fmt::Write;
                let _ = write!(out, "{n}");
            }
            Id::String(s) => super::json::write_json_string(out, s),
        }
    }
}

impl From<i64> for Id {
    fn from(n: i64) -> Self {
        Id::Number(n)
    }
}

impl From<&str> for Id {
    fn from(s: &str) -> Self {
        Id::String(s.to_owned())
    }
}

impl From<String> for Id {
    fn from(s: String) -> Self {
        Id::String(s)
    }
}

impl fmt::Display for Id {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Id::Null => f.write_str("null"),
            Id::Number(n) => write!(f, "{n}"),
            Id::String(s) => write!(f, "{s:?}"),
        }
    }
}

impl Serialize for Id {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Id::Null => serializer.serialize_unit(),
            Id::Number(n) => serializer.serialize_i64(*n),
            Id::String(s) => serializer.serialize_str(s),
        }
    }
}

impl<'de> Deserialize<'de> for Id {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(IdVisitor)
    }
}

struct IdVisitor;

impl Visitor<'_> for IdVisitor {
    type Value = Id;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an integer, a string or null")
    }

    fn visit_unit<E: de::Error>(self) -> Result<Id, E> {
        Ok(Id::Null)
    }

    fn visit_none<E: de::Error>(self) -> Result<Id, E> {
        Ok(Id::Null)
    }

    fn visit_i64<E: de::Error>(self, n: i64) -> Result<Id, E> {
        Ok(Id::Number(n))
    }

    fn visit_u64<E: de::Error>(self, n: u64) -> Result<Id, E> {
        i64::try_from(n)
            .map(Id::Number)
            .map_err(|_| E::custom("id out of range"))
    }

    fn visit_str<E: de::Error>(self, s: &str) -> Result<Id, E> {
        Ok(Id::String(s.to_owned()))
    }

    fn visit_string<E: de::Error>(self, s: String) -> Result<Id, E> {
        Ok(Id::String(s))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_allowed_form() {
        let cases = [
            ("1", Id::Number(1)),
            ("-5", Id::Number(-5)),
            (r#""abc""#, Id::from("abc")),
            (r#""a\"b""#, Id::from("a\"b")),
            ("null", Id::Null),
        ];
        for (text, want) in cases {
            assert_eq!(serde_json::from_str::<Id>(text).unwrap(), want, "{text}");
        }
    }

    #[test]
    fn rejects_invalid_ids() {
        for text in ["1.5", "true", "[1]", r#"{"a":1}"#, "18446744073709551615"] {
            assert!(serde_json::from_str::<Id>(text).is_err(), "{text}");
        }
    }

    #[test]
    fn writes_json() {
        for id in [Id::Null, Id::Number(42), Id::from("x\"y")] {
            let mut s = String::new();
            id.write_json(&mut s);
            assert_eq!(s, serde_json::to_string(&id).unwrap());
        }
    }
}
