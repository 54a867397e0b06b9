//! The server's view of a WebSocket upgrade request, and how a hook refuses one.

use std::net::SocketAddr;
use std::sync::Arc;

use tokio_tungstenite::tungstenite::http::{self, HeaderMap, HeaderName, HeaderValue, StatusCode};

/// The HTTP upgrade request of a connection being opened, as a handshake hook
/// sees it (see [`crate::Server::on_handshake`] and
/// [`crate::Server::on_handshake_async`]). Cheap to clone: an async hook may
/// keep it across its awaits.
#[derive(Clone, Debug)]
pub struct HandshakeRequest {
    pub(crate) request: Arc<RequestHead>,
    pub(crate) remote_addr: SocketAddr,
}

/// The head of an upgrade request: what a hook and the connection's setup see.
#[derive(Debug)]
pub(crate) struct RequestHead {
    uri: http::Uri,
    headers: HeaderMap,
}

impl RequestHead {
    pub(crate) fn new(parts: &http::request::Parts) -> Self {
        RequestHead {
            uri: parts.uri.clone(),
            headers: parts.headers.clone(),
        }
    }

    pub(crate) fn uri(&self) -> &http::Uri {
        &self.uri
    }

    pub(crate) fn headers(&self) -> &HeaderMap {
        &self.headers
    }
}

impl HandshakeRequest {
    /// The client's address.
    pub fn remote_addr(&self) -> SocketAddr {
        self.remote_addr
    }

    /// The request target, e.g. `/rpc?token=abc`.
    pub fn uri(&self) -> &http::Uri {
        self.request.uri()
    }

    /// The request path, e.g. `/rpc`.
    pub fn path(&self) -> &str {
        self.request.uri().path()
    }

    /// The query string without `?`, if any (e.g. `token=abc`).
    pub fn query(&self) -> Option<&str> {
        self.request.uri().query()
    }

    /// The value of the query parameter `name` (not percent-decoded), if present.
    pub fn query_param(&self, name: &str) -> Option<&str> {
        self.query()?
            .split('&')
            .filter_map(|pair| pair.split_once('=').or(Some((pair, ""))))
            .find(|(key, _)| *key == name)
            .map(|(_, value)| value)
    }

    /// Every request header.
    pub fn headers(&self) -> &HeaderMap {
        self.request.headers()
    }

    /// The value of header `name` if it is present and valid text.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.request.headers().get(name)?.to_str().ok()
    }

    /// The bearer token of an `Authorization: Bearer <token>` header.
    pub fn bearer_token(&self) -> Option<&str> {
        let value = self.header("authorization")?;
        let (scheme, token) = value.split_once(' ')?;
        scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
    }
}

/// A handshake hook's refusal: the HTTP response sent instead of the upgrade.
///
/// ```
/// use duplexrpc_ws::Rejection;
/// let r = Rejection::unauthorized("missing token").with_header("www-authenticate", "Bearer");
/// assert_eq!(r.status().as_u16(), 401);
/// ```
#[derive(Clone, Debug)]
pub struct Rejection {
    pub(crate) status: StatusCode,
    pub(crate) body: String,
    pub(crate) headers: Vec<(HeaderName, HeaderValue)>,
}

impl Rejection {
    /// A refusal with any error status (4xx or 5xx; anything else becomes 500)
    /// and a plain-text body.
    pub fn new(status: StatusCode, body: impl Into<String>) -> Self {
        let status = if status.is_client_error() || status.is_server_error() {
            status
        } else {
            StatusCode::INTERNAL_SERVER_ERROR
        };
        Rejection {
            status,
            body: body.into(),
            headers: Vec::new(),
        }
    }

    /// 401 Unauthorized: the client did not prove who it is.
    pub fn unauthorized(body: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, body)
    }

    /// 403 Forbidden: the client is known but not allowed.
    pub fn forbidden(body: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, body)
    }

    /// Adds a response header (e.g. `WWW-Authenticate`). An invalid name or
    /// value is ignored.
    pub fn with_header(mut self, name: &str, value: &str) -> Self {
        if let (Ok(name), Ok(value)) = (HeaderName::try_from(name), HeaderValue::try_from(value)) {
            self.headers.push((name, value));
        }
        self
    }

    /// The status sent.
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// The body sent.
    pub fn body(&self) -> &str {
        &self.body
    }
}
