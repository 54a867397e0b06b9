//! Compile tests of `#[rpc]` (trybuild): `ui/pass/*.rs` must compile and run;
//! each `ui/fail/<area>/*.rs` must fail with exactly the diagnostics in the
//! `.stderr` file beside it, every error pointing at the offending tokens.
//!
//! The `.stderr` files are rustc 1.95.0's output (the machine's stable
//! toolchain). They hold almost only the macro's own messages, but another
//! rustc may render them differently. Regenerate them with
//! `TRYBUILD=overwrite cargo test -p duplexrpc-macros --test ui`, then read the diff.

#[test]
fn ui() {
    let t = trybuild::TestCases::new();
    t.pass("tests/ui/pass/*.rs");
    t.compile_fail("tests/ui/fail/*/*.rs");
}
