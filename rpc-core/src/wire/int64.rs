//! Exact 64-bit integers for JavaScript peers.
//!
//! A Rust `i64` or `u64` is a JSON number, and JavaScript reads every JSON
//! number as a double: exact only up to 2^53 - 1 (`Number.MAX_SAFE_INTEGER`).
//! `i64::MAX` (9223372036854775807) arrives as 9223372036854775808, silently.
//! [`Int64`] and [`Uint64`] carry all 64 bits: they are written as decimal
//! strings (`"9223372036854775807"`), and read from a string or from a JSON
//! integer (what other Rust peers and small literals send). With the
//! `typescript` feature they are typed `string` in the generated bindings;
//! the TypeScript runtime's `decodeInt64`/`encodeInt64` (and the `Uint64`
//! pair) convert that string to and from a range-checked `bigint`.
//!
//! ```
//! use duplexrpc_core::int64::Int64;
//!
//! let wire = serde_json::to_string(&Int64(i64::MAX)).unwrap();
//! assert_eq!(wire, r#""9223372036854775807""#);
//! let back: Int64 = serde_json::from_str(&wire).unwrap();
//! assert_eq!(back.0, i64::MAX);
//! // A plain integer is accepted too.
//! assert_eq!(serde_json::from_str::<Int64>("-5").unwrap(), Int64(-5));
//! // Anything else is a clear error (a -32602 when it is a parameter).
//! let err = serde_json::from_str::<Int64>(r#""12x""#).unwrap_err();
//! assert!(err.to_string().contains("a 64-bit signed integer as a decimal string"), "{err}");
//! ```
//!
//! Use it where the value may leave the safe range (ids, counters, nanosecond
//! timestamps), as a parameter, a result or a field:
//!
//! ```
//! use duplexrpc_core::{rpc, RpcError, int64::Int64};
//!
//! #[rpc(namespace = "ledger")]
//! pub trait Ledger {
//!     /// TypeScript: `lastId(): Promise<string>`.
//!     async fn last_id(&self) -> Result<Int64, RpcError>;
//! }
//! ```

use std::fmt;
use std::str::FromStr;

use serde::de::{self, Deserializer, Visitor};
use serde::{Deserialize, Serialize, Serializer};

/// Declares one string-encoded integer newtype (the two differ only in the integer type).
macro_rules! string_integer {
    ($(#[$doc:meta])* $name:ident($int:ty), $expected:literal) => {
        $(#[$doc])*
        #[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub struct $name(pub $int);

        impl From<$int> for $name {
            fn from(value: $int) -> Self {
                $name(value)
            }
        }

        impl From<$name> for $int {
            fn from(value: $name) -> Self {
                value.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Display::fmt(&self.0, f)
            }
        }

        impl FromStr for $name {
            type Err = std::num::ParseIntError;

            fn from_str(s: &str) -> Result<Self, Self::Err> {
                s.parse().map($name)
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.collect_str(&self.0)
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                struct V;
                impl Visitor<'_> for V {
                    type Value = $name;

                    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                        f.write_str($expected)
                    }

                    fn visit_str<E: de::Error>(self, s: &str) -> Result<$name, E> {
                        s.parse().map_err(|_| E::invalid_value(de::Unexpected::Str(s), &self))
                    }

                    fn visit_i64<E: de::Error>(self, n: i64) -> Result<$name, E> {
                        <$int>::try_from(n).map($name).map_err(|_| E::invalid_value(de::Unexpected::Signed(n), &self))
                    }

                    fn visit_u64<E: de::Error>(self, n: u64) -> Result<$name, E> {
                        <$int>::try_from(n)
                            .map($name)
                            .map_err(|_| E::invalid_value(de::Unexpected::Unsigned(n), &self))
                    }
                }
                deserializer.deserialize_any(V)
            }
        }

        /// Typed `string` in the generated bindings.
        #[cfg(feature = "typescript")]
        impl ts_rs::TS for $name {
            type WithoutGenerics = Self;
            type OptionInnerType = Self;

            fn name(_: &ts_rs::Config) -> String {
                "string".to_owned()
            }

            fn inline(_: &ts_rs::Config) -> String {
                "string".to_owned()
            }
        }

        /// A string of decimal digits in the OpenRPC document.
        #[cfg(feature = "openrpc")]
        impl schemars::JsonSchema for $name {
            fn inline_schema() -> bool {
                true
            }

            fn schema_name() -> std::borrow::Cow<'static, str> {
                stringify!($name).into()
            }

            fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
                schemars::json_schema!({
                    "type": "string",
                    "pattern": "^-?[0-9]+$",
                    "description": $expected,
                })
            }
        }
    };
}

string_integer!(
    /// An `i64` that JavaScript reads exactly: a decimal string on the wire
    /// (`"-9223372036854775808"`), a JSON integer accepted too; TypeScript
    /// type `string`. See the [module docs](self).
    Int64(i64),
    "a 64-bit signed integer as a decimal string"
);

string_integer!(
    /// A `u64` that JavaScript reads exactly: a decimal string on the wire
    /// (`"18446744073709551615"`), a JSON integer accepted too; TypeScript
    /// type `string`. See the [module docs](self).
    Uint64(u64),
    "a 64-bit unsigned integer as a decimal string"
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_extremes_travel_exactly_as_strings() {
        for v in [i64::MIN, -1, 0, i64::MAX] {
            let wire = serde_json::to_value(Int64(v)).unwrap();
            assert_eq!(wire, serde_json::Value::String(v.to_string()));
            assert_eq!(serde_json::from_value::<Int64>(wire).unwrap(), Int64(v));
        }
        let wire = serde_json::to_string(&Uint64(u64::MAX)).unwrap();
        assert_eq!(wire, r#""18446744073709551615""#);
        assert_eq!(serde_json::from_str::<Uint64>(&wire).unwrap(), Uint64(u64::MAX));
    }

    #[test]
    fn integers_are_accepted_and_out_of_range_or_junk_is_a_clear_error() {
        assert_eq!(
            serde_json::from_str::<Int64>("9223372036854775807").unwrap(),
            Int64(i64::MAX)
        );
        assert_eq!(serde_json::from_str::<Uint64>("7").unwrap(), Uint64(7));
        for (json, says) in [
            (
                r#""9223372036854775808""#,
                "invalid value: string \"9223372036854775808\"",
            ),
            ("9223372036854775808", "invalid value: integer `9223372036854775808`"),
            ("1.5", "invalid type: floating point `1.5`"),
            (r#""""#, "invalid value: string \"\""),
            ("null", "invalid type: null"),
        ] {
            let err = serde_json::from_str::<Int64>(json).unwrap_err().to_string();
            assert!(err.contains(says), "{json}: {err}");
            assert!(err.contains("a 64-bit signed integer as a decimal string"), "{err}");
        }
        let err = serde_json::from_str::<Uint64>("-1").unwrap_err().to_string();
        assert!(
            err.contains("invalid value: integer `-1`, expected a 64-bit unsigned"),
            "{err}"
        );
    }

    #[test]
    fn conversions() {
        assert_eq!(i64::from(Int64::from(-3)), -3);
        assert_eq!("42".parse::<Uint64>().unwrap(), Uint64(42));
        assert_eq!(Int64(-42).to_string(), "-42");
    }

    #[cfg(feature = "openrpc")]
    #[test]
    fn json_schema_is_a_decimal_string() {
        let schema = schemars::SchemaGenerator::default().subschema_for::<Int64>();
        assert_eq!(schema.get("type"), Some(&serde_json::json!("string")));
        assert_eq!(schema.get("pattern"), Some(&serde_json::json!("^-?[0-9]+$")));
    }

    #[cfg(feature = "typescript")]
    #[test]
    fn typescript_type_is_string() {
        use ts_rs::TS;
        let cfg = ts_rs::Config::new();
        assert_eq!(Int64::name(&cfg), "string");
        assert_eq!(<Option<Uint64>>::name(&cfg), "string | null");
        assert_eq!(<Vec<Int64>>::inline(&cfg), "Array<string>");
    }
}
