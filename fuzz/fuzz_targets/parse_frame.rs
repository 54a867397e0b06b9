//! The wire parser on arbitrary text: never panics, and classifies every
//! valid JSON text as a message, a batch or an invalid request (never as a
//! parse error).
#![no_main]

use libfuzzer_sys::fuzz_target;
use duplexrpc_core::message::{Frame, parse_frame};

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let frame = parse_frame(&text);
    let is_json = serde_json::from_str::<serde::de::IgnoredAny>(&text).is_ok();
    match frame {
        Frame::ParseError => assert!(!is_json, "valid JSON classified as a parse error: {text:?}"),
        Frame::Batch(items) => assert!(!items.is_empty()),
        _ => {}
    }
});
