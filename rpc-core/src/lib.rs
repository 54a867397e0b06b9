//! Bidirectional JSON-RPC 2.0, independent of any transport.
//!
//! The modules, from the wire up (each uses only those above it):
//!
//! * `wire/`: the JSON-RPC 2.0 format, public as [`message`] (classify
//!   incoming text, encode outgoing), [`id`], [`error`] ([`RpcError`],
//!   [`ErrorObject`]) and [`protocol`] (every `$/...` method and its params).
//! * [`transport`]: what a connection implements, a `Sender` and a
//!   `Receiver` or one `Transport` value (`duplexrpc-ws` provides the
//!   WebSocket one; [`transport::memory`] an in-process pair).
//! * [`observe`]: tracing spans and the [`observe::Metrics`] hook.
//! * [`stream`]: [`RpcStream`], and both sides of a stream (producer,
//!   consumer) under one owner.
//! * `connection/`: the task that runs one connection, the state its handles
//!   share, the outgoing queue, the pending calls.
//! * `dispatch/`: [`methods`] ([`Methods`], the dispatch table a service turns
//!   into), [`middleware`] (what wraps every incoming call) and the one
//!   handler pipeline every incoming call takes.
//! * [`peer`]: [`Peer`], one end of a connection, which calls the other end
//!   and serves its calls at once (both ends are the same type);
//!   [`PeerBuilder`], [`PeerConfig`], [`PeerSlot`].
//! * [`meta`]: the metadata the macro emits, which `duplexrpc-codegen` turns
//!   into TypeScript bindings and OpenRPC documents (this crate's features
//!   `typescript` and `openrpc` let the metadata carry the types' forms).
//! * [`rpc`]: the attribute macro that turns a trait into a typed client stub
//!   and a dispatch table.
//!
//! The connection registry and the cluster backplane are `duplexrpc-cluster`.
//!
//! ```
//! use duplexrpc_core::{rpc, PeerBuilder, RpcError, transport::memory};
//!
//! #[rpc]
//! pub trait Calculator {
//!     async fn add(&self, a: i64, b: i64) -> Result<i64, RpcError>;
//! }
//!
//! struct Calc;
//! impl Calculator for Calc {
//!     async fn add(&self, a: i64, b: i64) -> Result<i64, RpcError> {
//!         Ok(a + b)
//!     }
//! }
//!
//! # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
//! let ((a_tx, a_rx), (b_tx, b_rx)) = memory::pair();
//! let mut server = PeerBuilder::new();
//! server.register(Calc.into_methods()).unwrap();
//! server.start(a_tx, a_rx);
//! let calc = CalculatorClient::new(PeerBuilder::new().start(b_tx, b_rx));
//! assert_eq!(calc.add(2, 3).await, Ok(5));
//! # });
//! ```

mod connection;
mod dispatch;
pub mod meta;
pub mod observe;
pub mod peer;
pub mod session;
pub mod stream;
pub mod transport;
mod wire;

pub use dispatch::{methods, middleware};
pub use duplexrpc_macros::{RpcErrorType, rpc};
pub use meta::{ApiMeta, MethodKind, MethodMeta, ParamMeta, RpcApi, RpcErrorType};
pub use methods::{Methods, Params, RegisterError};
pub use peer::{CANCEL_METHOD, Notification, Peer, PeerBuilder, PeerConfig, PeerSlot};
pub use stream::RpcStream;
pub use wire::error::{ErrorCode, ErrorObject, RpcError};
pub use wire::id::Id;
pub use wire::{error, id, int64, message, protocol};

/// Items generated code refers to. Not public API: may change at any time.
#[doc(hidden)]
pub mod __private {
    pub use crate::dispatch::methods::{HandlerFuture, encode_outcome, encode_stream};
    pub use crate::dispatch::params::{ParamSlots, decode as decode_params, param};
    pub use crate::meta::errors::{data_member, data_value, from_rpc_result, into_rpc_result, to_data};
    pub use crate::wire::message::EncodedResult;
    pub use serde;
    pub use serde_json;
    pub use std::boxed::Box;
    pub use std::sync::Arc;

    /// The params of a call without arguments: `[]`.
    pub const NO_PARAMS: [(); 0] = [];
}
