//! The server's side of the subprotocol `duplexrpc.session.v1` in the
//! upgrade: offered by a resumable client, selected by a server with
//! sessions on (the client's side is in `client`).

use duplexrpc_core::session::SUBPROTOCOL;
use tokio_tungstenite::tungstenite::http::{HeaderMap, HeaderValue, header};

/// Whether the upgrade request offers the session subprotocol
/// (`Sec-WebSocket-Protocol` lists it; tokens are case-sensitive).
pub(crate) fn offers(headers: &HeaderMap) -> bool {
    headers
        .get_all(header::SEC_WEBSOCKET_PROTOCOL)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|t| t.trim() == SUBPROTOCOL)
}

/// Selects the session subprotocol in a response (the 101's header).
pub(crate) fn select(headers: &mut HeaderMap) {
    headers.insert(header::SEC_WEBSOCKET_PROTOCOL, HeaderValue::from_static(SUBPROTOCOL));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_subprotocol_is_found_among_others() {
        let mut headers = HeaderMap::new();
        assert!(!offers(&headers));
        headers.append(
            header::SEC_WEBSOCKET_PROTOCOL,
            HeaderValue::from_static("chat, duplexrpc.session.v1"),
        );
        assert!(offers(&headers));
        let mut other = HeaderMap::new();
        other.append(
            header::SEC_WEBSOCKET_PROTOCOL,
            HeaderValue::from_static("DUPLEXRPC.SESSION.V1"),
        );
        assert!(!offers(&other));
        let mut response = HeaderMap::new();
        select(&mut response);
        assert!(offers(&response), "the 101 names it as the request did");
    }
}
