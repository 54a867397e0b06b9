//! The HTTP side of the server: what kind of request arrived (a WebSocket
//! upgrade or plain HTTP), and the responses (101, 426, the health path).

use http_body_util::Full;
use hyper::body::Bytes;
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;
use tokio_tungstenite::tungstenite::http::{HeaderMap, HeaderValue, Method, Response, StatusCode, header, request};

use crate::handshake::Rejection;

/// What a request asks for.
#[derive(Debug)]
pub(crate) enum Kind {
    /// A valid WebSocket upgrade; the `Sec-WebSocket-Accept` value to answer with.
    Upgrade(String),
    /// A plain HTTP request (no `Upgrade: websocket`).
    Plain,
    /// An upgrade request that cannot be served; the response says why.
    Invalid(Response<Full<Bytes>>),
}

/// Classifies a request by its head (RFC 6455 §4.2.1). An invalid upgrade's
/// answer closes the connection.
pub(crate) fn classify(head: &request::Parts) -> Kind {
    match check_upgrade(head) {
        Kind::Invalid(mut response) => {
            let close = HeaderValue::from_static("close");
            response.headers_mut().insert(header::CONNECTION, close);
            Kind::Invalid(response)
        }
        kind => kind,
    }
}

fn check_upgrade(head: &request::Parts) -> Kind {
    let headers = &head.headers;
    if !has_token(headers, header::UPGRADE, "websocket") {
        return Kind::Plain;
    }
    if !has_token(headers, header::CONNECTION, "upgrade") {
        return Kind::Invalid(plain(
            StatusCode::BAD_REQUEST,
            "a WebSocket upgrade needs `Connection: Upgrade`",
        ));
    }
    if head.method != Method::GET {
        return Kind::Invalid(plain(StatusCode::METHOD_NOT_ALLOWED, "a WebSocket upgrade is a GET"));
    }
    if headers.get(header::SEC_WEBSOCKET_VERSION).map(HeaderValue::as_bytes) != Some(b"13") {
        let mut response = upgrade_required();
        let versions = HeaderValue::from_static("13");
        response.headers_mut().insert(header::SEC_WEBSOCKET_VERSION, versions);
        return Kind::Invalid(response);
    }
    match headers.get(header::SEC_WEBSOCKET_KEY) {
        Some(key) => Kind::Upgrade(derive_accept_key(key.as_bytes())),
        None => Kind::Invalid(plain(StatusCode::BAD_REQUEST, "missing Sec-WebSocket-Key")),
    }
}

/// True if header `name` lists `token` (comma-separated, any case).
fn has_token(headers: &HeaderMap, name: header::HeaderName, token: &str) -> bool {
    headers
        .get_all(name)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|t| t.trim().eq_ignore_ascii_case(token))
}

/// 101 Switching Protocols, accepting the upgrade.
pub(crate) fn switching_protocols(accept: &str) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::default());
    *response.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
    let headers = response.headers_mut();
    headers.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
    headers.insert(header::CONNECTION, HeaderValue::from_static("Upgrade"));
    if let Ok(accept) = HeaderValue::try_from(accept) {
        headers.insert(header::SEC_WEBSOCKET_ACCEPT, accept);
    }
    response
}

/// 426 Upgrade Required, with `Upgrade: websocket`: the answer to a plain
/// HTTP request (RFC 9110 §15.5.22).
pub(crate) fn upgrade_required() -> Response<Full<Bytes>> {
    let mut response = plain(
        StatusCode::UPGRADE_REQUIRED,
        "this is a WebSocket endpoint: connect with a WebSocket client\n",
    );
    let headers = response.headers_mut();
    headers.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
    headers.insert(header::CONNECTION, HeaderValue::from_static("Upgrade"));
    response
}

/// 200 OK "ok": the health path's answer.
pub(crate) fn healthy() -> Response<Full<Bytes>> {
    plain(StatusCode::OK, "ok\n")
}

/// A response with a plain-text body.
/// A refused handshake as its HTTP response: the status, the hook's headers,
/// a plain-text body, and `Connection: close`.
pub(crate) fn rejected(rejection: Rejection) -> Response<Full<Bytes>> {
    let mut response = plain(rejection.status, rejection.body);
    let headers = response.headers_mut();
    for (name, value) in rejection.headers {
        headers.append(name, value);
    }
    headers.insert(header::CONNECTION, HeaderValue::from_static("close"));
    response
}

pub(crate) fn plain(status: StatusCode, body: impl Into<Bytes>) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(body.into()));
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    response
}
