//! The handshake hook (auth, 401/403), the Origin allow-list and client headers.

mod common;

use std::sync::Arc;

use common::{bare_server, connect_and_close};
use duplexrpc_core::{RpcError, rpc};
use duplexrpc_ws::{ClientBuilder, ConnectError, Rejection, Server, WsConfig};

/// What a connection knows about itself.
#[rpc(namespace = "me")]
pub trait WhoAmI {
    /// The user the handshake hook authenticated.
    async fn whoami(&self) -> Result<String, RpcError>;
    /// The path of the upgrade request.
    async fn path(&self) -> Result<String, RpcError>;
}

struct Session {
    user: Arc<str>,
    path: String,
}

impl WhoAmI for Session {
    async fn whoami(&self) -> Result<String, RpcError> {
        Ok(self.user.to_string())
    }
    async fn path(&self) -> Result<String, RpcError> {
        Ok(self.path.clone())
    }
}

/// A server whose hook takes a bearer token (header) or `?token=` (query) and
/// hands the user to the connection's service.
async fn auth_server(config: WsConfig) -> duplexrpc_ws::ServerHandle {
    Server::bind("127.0.0.1:0")
        .await
        .unwrap()
        .with_config(config)
        .on_handshake(|req| {
            assert!(req.remote_addr().ip().is_loopback());
            let token = req.bearer_token().or_else(|| req.query_param("token"));
            match token {
                Some("t-alice") => Ok(Arc::<str>::from("alice")),
                Some("t-bob") => Ok(Arc::<str>::from("bob")),
                Some("t-banned") => Err(Rejection::forbidden("user is banned")),
                _ => Err(Rejection::unauthorized("missing or unknown token").with_header("www-authenticate", "Bearer")),
            }
        })
        .serve(|conn, info| {
            conn.register(
                Session {
                    user: info.auth.clone(),
                    path: info.path.clone(),
                }
                .into_methods(),
            )?;
            Ok(())
        })
}

#[tokio::test]
async fn the_hook_authenticates_and_every_handler_sees_the_user() {
    let server = auth_server(WsConfig::default()).await;
    let url = format!("{}rpc", server.url());
    let alice = ClientBuilder::new(&url)
        .header("Authorization", "Bearer t-alice")
        .connect()
        .await
        .unwrap()
        .start();
    let bob = ClientBuilder::new(format!("{url}?token=t-bob"))
        .connect()
        .await
        .unwrap()
        .start();
    let alice_api = WhoAmIClient::new(alice.clone());
    let bob_api = WhoAmIClient::new(bob.clone());
    assert_eq!(alice_api.whoami().await.unwrap(), "alice");
    assert_eq!(bob_api.whoami().await.unwrap(), "bob");
    assert_eq!(alice_api.path().await.unwrap(), "/rpc");
    alice.close().await;
    bob.close().await;
    server.stop().await;
}

#[tokio::test]
async fn the_hook_refuses_with_401_and_403_before_the_upgrade() {
    let server = auth_server(WsConfig::default()).await;
    let err = duplexrpc_ws::connect(&server.url()).await.unwrap_err();
    match &err {
        ConnectError::Rejected { status, body } => {
            assert_eq!(*status, 401);
            assert_eq!(body, "missing or unknown token");
        }
        other => panic!("expected a 401, got {other:?}"),
    }
    let err = ClientBuilder::new(server.url())
        .header("authorization", "bearer t-banned")
        .connect()
        .await
        .unwrap_err();
    assert_eq!(err.status(), Some(403), "{err}");
    assert!(err.to_string().contains("user is banned"), "{err}");
    // The server still serves good clients after refusing.
    let ok = ClientBuilder::new(server.url())
        .header("authorization", "Bearer t-alice")
        .connect()
        .await
        .unwrap()
        .start();
    assert_eq!(WhoAmIClient::new(ok.clone()).whoami().await.unwrap(), "alice");
    ok.close().await;
    server.stop().await;
}

#[tokio::test]
async fn a_raw_refusal_carries_status_headers_and_body() {
    use tokio_tungstenite::tungstenite::Error;
    let server = auth_server(WsConfig::default()).await;
    let err = tokio_tungstenite::connect_async(server.url()).await.unwrap_err();
    let Error::Http(response) = err else {
        panic!("expected an HTTP refusal, got {err:?}")
    };
    assert_eq!(response.status().as_u16(), 401);
    assert_eq!(response.headers()["www-authenticate"], "Bearer");
    assert_eq!(response.headers()["content-length"], "24");
    server.stop().await;
}

#[tokio::test]
async fn the_origin_allow_list_refuses_other_sites_with_403() {
    let config = WsConfig::default().allowed_origins(["https://app.example.com"]);
    let server = Server::bind("127.0.0.1:0")
        .await
        .unwrap()
        .with_config(config)
        .serve(|_conn, _info| Ok(()));
    let from = |origin: &str| ClientBuilder::new(server.url()).header("origin", origin).connect();
    let err = from("https://evil.example.net").await.unwrap_err();
    assert_eq!(err.status(), Some(403), "{err}");
    assert!(err.to_string().contains("origin not allowed"));
    // Listed origins are accepted (case-insensitively); so are non-browser
    // clients, which send no Origin.
    from("https://app.example.com").await.unwrap().start().close().await;
    from("HTTPS://APP.EXAMPLE.COM").await.unwrap().start().close().await;
    connect_and_close(&server).await;
    server.stop().await;
}

#[tokio::test]
async fn without_an_allow_list_any_origin_connects() {
    let server = bare_server().await;
    let peer = ClientBuilder::new(server.url())
        .header("origin", "https://anywhere.example")
        .connect()
        .await
        .unwrap()
        .start();
    peer.close().await;
    server.stop().await;
}

#[tokio::test]
async fn the_setup_sees_path_query_and_headers() {
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let server = Server::bind("127.0.0.1:0").await.unwrap().serve(move |_conn, info| {
        let header = info.headers.get("x-client").map(|v| v.to_str().unwrap().to_owned());
        tx.send((info.path.clone(), info.query.clone(), header, info.remote_addr))
            .unwrap();
        Ok(())
    });
    let peer = ClientBuilder::new(format!("{}api/v1?room=7", server.url()))
        .header("X-Client", "test-suite")
        .connect()
        .await
        .unwrap()
        .start();
    let (path, query, header, remote) = rx.recv().await.unwrap();
    assert_eq!(path, "/api/v1");
    assert_eq!(query.as_deref(), Some("room=7"));
    assert_eq!(header.as_deref(), Some("test-suite"));
    assert!(remote.ip().is_loopback());
    peer.close().await;
    server.stop().await;
}

#[tokio::test]
async fn an_invalid_client_header_is_an_error() {
    let err = ClientBuilder::new("ws://127.0.0.1:1/")
        .header("bad header", "x")
        .connect()
        .await
        .unwrap_err();
    assert!(matches!(err, ConnectError::InvalidHeader { .. }), "{err:?}");
}
