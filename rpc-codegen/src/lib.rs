//! Code generation from the metadata `#[rpc]` emits
//! ([`duplexrpc_core::meta`]), never from Rust source.
//!
//! * [`typescript`] (feature `typescript`): a TypeScript module with a client
//!   class for each trait the TypeScript side calls, and an interface and a
//!   register function for each trait it implements.
//! * [`openrpc`] (feature `openrpc`): an OpenRPC document with JSON Schemas,
//!   and the optional `rpc.discover` method that serves it.
//! * [`cli`]: the command-line helper of an export binary, for both:
//!   print, `--out FILE`, `--out FILE --check`.
//!
//! The types of the traits need `#[derive(ts_rs::TS)]` (TypeScript) or
//! `#[derive(schemars::JsonSchema)]` (OpenRPC); the matching feature of this
//! crate turns on the one of `duplexrpc-core` that lets the metadata see them.

pub mod cli;
#[cfg(feature = "openrpc")]
pub mod openrpc;
#[cfg(feature = "typescript")]
pub mod typescript;
