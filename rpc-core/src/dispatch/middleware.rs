//! Middleware: the one point that wraps every incoming call.
//!
//! A [`Middleware`] sees each call the remote end makes on a connection
//! (requests, notifications, and the requests that open a stream) before its
//! handler runs: the method name, the raw params, the request id, and the
//! connection's id ([`Call`]). It can
//!
//! * pass the call on ([`Next::run`]), and wrap the future it gets back, to
//!   time or log the call;
//! * refuse it: return an [`ErrorObject`] (e.g. an application code for
//!   "forbidden" or "rate limited"), which is the reply (a notification has
//!   none: it is dropped);
//! * answer it itself ([`reply`]), without calling the handler.
//!
//! Middleware is installed per connection with
//! [`PeerBuilder::middleware`](crate::PeerBuilder::middleware); a server's
//! per-connection setup is where one captures what the handshake learned
//! (e.g. `duplexrpc_ws::ConnectionInfo::auth`, the authenticated user).
//! Several compose in the order installed: the first sees the call first,
//! and its [`Next::run`] runs the second, and so on; the last one's
//! [`Next::run`] looks the method up and parses the params.
//!
//! ```
//! use duplexrpc_core::middleware::{self, Call, Next};
//! use duplexrpc_core::{ErrorObject, Methods, PeerBuilder, RpcError, transport::memory};
//!
//! /// Only the `admin` user may call `admin.*`.
//! struct AdminOnly { user: String }
//!
//! impl middleware::Middleware for AdminOnly {
//!     fn call<'a>(&'a self, call: Call<'a>, next: Next<'a>) -> middleware::CallResult {
//!         if call.method().starts_with("admin.") && self.user != "admin" {
//!             return Err(ErrorObject::new(-32003, "Forbidden"));
//!         }
//!         next.run(call)
//!     }
//! }
//!
//! # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
//! let ((a_tx, a_rx), (b_tx, b_rx)) = memory::pair();
//! let mut methods = Methods::new();
//! methods.method("admin.reset", |(): ()| async { Ok::<_, RpcError>("done") }).unwrap();
//! let mut server = PeerBuilder::new();
//! server.register(methods).unwrap();
//! server.middleware(AdminOnly { user: "alice".into() });
//! // A second one, from a closure: answers `ping` itself.
//! server.middleware(middleware::from_fn(|call, next| match call.method() {
//!     "ping" => middleware::reply(&"pong"),
//!     _ => next.run(call),
//! }));
//! let _server = server.start(a_tx, a_rx);
//! let client = PeerBuilder::new().start(b_tx, b_rx);
//! let refused = client.call::<_, String>("admin.reset", ()).await.unwrap_err();
//! assert_eq!(refused.code(), Some(-32003));
//! assert_eq!(client.call::<_, String>("ping", ()).await.unwrap(), "pong");
//! # });
//! ```
//!
//! Not seen by middleware: the protocol's own notifications (`$/cancelRequest`,
//! `$/stream.*`), responses to this end's calls, invalid messages (answered
//! -32600), and calls refused with -32000 "Server busy" before any handler
//! runs (`PeerConfig::max_concurrent_calls`). A call to an unknown method is
//! seen: the last [`Next::run`] answers it -32601.
//!
//! With no middleware installed the cost per call is nothing but an empty
//! slice check: the call goes straight to its handler.

use std::fmt;
use std::sync::Arc;

use serde::Serialize;

use super::methods::{HandlerFuture, Methods, Outcome, Params};
use crate::wire::error::{ErrorCode, ErrorObject};
use crate::wire::id::Id;
use crate::wire::message::EncodedResult;

/// What a middleware (and [`Next::run`]) returns: the future of the reply,
/// or the error to reply with at once.
pub type CallResult = Result<HandlerFuture, ErrorObject>;

/// Wraps every incoming call of a connection; see the [module](self) docs.
///
/// `call` runs synchronously while the params are still borrowed from the
/// received frame (as a handler's params parsing does). To do something
/// asynchronous before the handler (e.g. a lookup), call [`Next::run`] first,
/// which parses the params and returns the handler's future without running
/// it, then await the lookup inside the returned future before awaiting the
/// handler's.
pub trait Middleware: Send + Sync + 'static {
    /// Handles one call: pass it on with `next.run(call)`, or refuse or
    /// answer it.
    fn call<'a>(&'a self, call: Call<'a>, next: Next<'a>) -> CallResult;
}

impl<M: Middleware + ?Sized> Middleware for Arc<M> {
    fn call<'a>(&'a self, call: Call<'a>, next: Next<'a>) -> CallResult {
        (**self).call(call, next)
    }
}

/// One incoming call, as a middleware sees it.
#[derive(Clone, Copy, Debug)]
pub struct Call<'a> {
    method: &'a str,
    params: Params<'a>,
    id: Option<&'a Id>,
    connection: u64,
}

impl<'a> Call<'a> {
    /// The method called, e.g. `calc.add`.
    pub fn method(&self) -> &'a str {
        self.method
    }

    /// The params, unparsed ([`Params::raw`] is the JSON text, if any).
    pub fn params(&self) -> Params<'a> {
        self.params
    }

    /// The request's id; `None` for a notification.
    pub fn id(&self) -> Option<&'a Id> {
        self.id
    }

    /// Whether the call is a notification (no reply is sent, whatever the
    /// middleware or the handler returns).
    pub fn is_notification(&self) -> bool {
        self.id.is_none()
    }

    /// The connection's number in this process, the same as
    /// [`PeerBuilder::connection_id`](crate::PeerBuilder::connection_id) and
    /// the `conn` field of the `rpc.connection` span.
    pub fn connection_id(&self) -> u64 {
        self.connection
    }

    /// The same call with other params, e.g. rewritten by a middleware for
    /// those after it and the handler.
    pub fn with_params(self, params: Params<'a>) -> Self {
        Call { params, ..self }
    }
}

/// The rest of the chain after a middleware: the middleware installed after
/// it, then the handler.
pub struct Next<'a> {
    layers: &'a [Arc<dyn Middleware>],
    methods: &'a Methods,
}

impl fmt::Debug for Next<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Next")
            .field("layers", &self.layers.len())
            .finish_non_exhaustive()
    }
}

impl<'a> Next<'a> {
    /// Passes the call on: to the next middleware, or, after the last one,
    /// to the handler, which parses the params (-32602 if they do not fit;
    /// -32601 if there is no such method) and returns the future of its
    /// reply without running it.
    pub fn run(self, call: Call<'a>) -> CallResult {
        match self.layers.split_first() {
            Some((first, rest)) => first.call(call, Next { layers: rest, ..self }),
            None => run_handler(self.methods, call.method, call.params),
        }
    }
}

/// The end of every chain: looks the method up (-32601 if there is none)
/// and lets its handler parse the params.
fn run_handler(methods: &Methods, method: &str, params: Params<'_>) -> CallResult {
    let handler = methods
        .get(method)
        .ok_or_else(|| ErrorObject::from_code(ErrorCode::MethodNotFound))?;
    handler(params)
}

/// A reply made by a middleware itself: `value`, serialized, as the call's
/// result.
///
/// ```
/// use duplexrpc_core::middleware;
/// let answer = middleware::from_fn(|call, next| match call.method() {
///     "version" => middleware::reply(&"1.2.0"),
///     _ => next.run(call),
/// });
/// # drop(answer);
/// ```
pub fn reply<T: Serialize + ?Sized>(value: &T) -> CallResult {
    let outcome = EncodedResult::encode(value).map(Outcome::Value);
    Ok(Box::pin(std::future::ready(outcome)))
}

/// A middleware from a function or closure; see the [module](self) docs.
pub fn from_fn<F>(f: F) -> FromFn<F>
where
    F: for<'a> Fn(Call<'a>, Next<'a>) -> CallResult + Send + Sync + 'static,
{
    FromFn(f)
}

/// A middleware made by [`from_fn`].
#[derive(Clone, Copy)]
pub struct FromFn<F>(F);

impl<F> fmt::Debug for FromFn<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("FromFn")
    }
}

impl<F> Middleware for FromFn<F>
where
    F: for<'a> Fn(Call<'a>, Next<'a>) -> CallResult + Send + Sync + 'static,
{
    fn call<'a>(&'a self, call: Call<'a>, next: Next<'a>) -> CallResult {
        (self.0)(call, next)
    }
}

/// A connection's methods with the middleware around them: what its
/// dispatcher invokes every incoming call through.
pub(crate) struct Stack {
    methods: Methods,
    layers: Box<[Arc<dyn Middleware>]>,
    connection: u64,
}

impl Stack {
    pub(crate) fn new(methods: Methods, layers: Vec<Arc<dyn Middleware>>, connection: u64) -> Self {
        Stack {
            methods,
            layers: layers.into_boxed_slice(),
            connection,
        }
    }

    /// Whether the connection has a method of this name.
    pub(crate) fn knows(&self, method: &str) -> bool {
        self.methods.get(method).is_some()
    }

    /// Runs the call through the middleware (if any) to its handler.
    pub(crate) fn invoke(&self, method: &str, params: Params<'_>, id: Option<&Id>) -> CallResult {
        if self.layers.is_empty() {
            // No middleware: straight to the handler, no chain to build.
            return run_handler(&self.methods, method, params);
        }
        let call = Call {
            method,
            params,
            id,
            connection: self.connection,
        };
        let next = Next {
            layers: &self.layers,
            methods: &self.methods,
        };
        next.run(call)
    }
}

#[cfg(test)]
mod cost;
