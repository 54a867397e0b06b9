//! What an asynchronous per-connection setup hands the connection.

use std::fmt;
use std::sync::Arc;

use duplexrpc_core::Methods;
use duplexrpc_core::middleware::Middleware;

/// The methods a client may call on its connection and the middleware that
/// wraps every call it makes, as an asynchronous setup
/// ([`crate::Server::serve_async`], [`crate::EndpointBuilder::build_async`])
/// returns them. A setup with no middleware may return [`Methods`] alone.
///
/// ```
/// use duplexrpc_core::{Methods, RpcError, middleware};
/// use duplexrpc_ws::Services;
///
/// let mut methods = Methods::new();
/// methods.method("ping", |(): ()| async { Ok::<_, RpcError>("pong") }).unwrap();
/// let services = Services::new(methods).middleware(middleware::from_fn(|call, next| next.run(call)));
/// # drop(services);
/// ```
#[derive(Default)]
pub struct Services {
    pub(crate) methods: Methods,
    pub(crate) middleware: Vec<Arc<dyn Middleware>>,
}

impl Services {
    /// These methods, with no middleware yet.
    pub fn new(methods: Methods) -> Self {
        Services {
            methods,
            middleware: Vec::new(),
        }
    }

    /// Adds a middleware; several run in the order added (the first sees
    /// each call first), as with `PeerBuilder::middleware`.
    pub fn middleware(mut self, middleware: impl Middleware) -> Self {
        self.middleware.push(Arc::new(middleware));
        self
    }
}

impl From<Methods> for Services {
    fn from(methods: Methods) -> Self {
        Services::new(methods)
    }
}

impl fmt::Debug for Services {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Services")
            .field("methods", &self.methods)
            .field("middleware", &self.middleware.len())
            .finish()
    }
}
