//! Appending JSON text to a `String` in place: what the encoders of
//! [`super::message`] and [`super::id`] share.

use serde::Serialize;

/// The first byte of `text` after JSON's whitespace (space, tab, LF, CR:
/// RFC 8259 §2), which tells the kind of value that starts there. Other
/// whitespace is no JSON, and stays: the text fails to parse either way.
pub(crate) fn first_byte(text: &str) -> Option<u8> {
    text.bytes().find(|b| !matches!(b, b' ' | b'\t' | b'\n' | b'\r'))
}

/// Appends `s` as a JSON string literal.
pub(crate) fn write_json_string(out: &mut String, s: &str) {
    append_json(out, s).expect("a str always serializes");
}

/// Appends the JSON text of `value` to `out`.
pub(crate) fn append_json<T: Serialize + ?Sized>(out: &mut String, value: &T) -> Result<(), serde_json::Error> {
    // serde_json only writes UTF-8; `to_writer` on the String's bytes would
    // need unsafe, so go through a Vec and one checked conversion instead of
    // a second buffer: the vector becomes the string's new tail.
    let mut buf = std::mem::take(out).into_bytes();
    let result = serde_json::to_writer(&mut buf, value);
    *out = String::from_utf8(buf).expect("serde_json writes UTF-8");
    result
}
