//! The dispatcher on arbitrary bytes: the input is cut into frames at each
//! 0xFF byte (never valid UTF-8), each frame sent as (lossy) text.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let frames: Vec<String> = data
        .split(|b| *b == 0xff)
        .take(64)
        .map(|f| String::from_utf8_lossy(f).into_owned())
        .collect();
    rpc_fuzz::run(&frames);
});
