//! The JSON-RPC 2.0 wire format and the framework's own methods.
//!
//! * [`message`]: classify incoming text, encode outgoing messages;
//! * [`id`]: request ids;
//! * [`error`]: error codes, error objects, and the caller's [`RpcError`];
//! * [`protocol`]: every `$/...` method (cancel, streams) and its params;
//! * `json`: appending JSON text in place, for the encoders.
//!
//! [`RpcError`]: error::RpcError

pub mod error;
pub mod id;
pub mod int64;
pub(crate) mod json;
pub mod message;
pub mod protocol;
