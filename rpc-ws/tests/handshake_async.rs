//! Async hooks: the handshake hook and the per-connection setup may await
//! (e.g. a token lookup in a database), bounded by `handshake_timeout`.

use std::time::Duration;

use duplexrpc_core::{Methods, RpcError};
use duplexrpc_ws::{ClientBuilder, Rejection, Server, ServerHandle, WsConfig};

const BOUND: Duration = Duration::from_secs(15);

/// A token store that answers after a while, like a database.
async fn lookup(token: Option<String>) -> Option<String> {
    tokio::time::sleep(Duration::from_millis(50)).await;
    match token.as_deref() {
        Some("t-alice") => Some("alice".into()),
        Some("t-slow") => {
            tokio::time::sleep(Duration::from_secs(60)).await;
            Some("slow".into())
        }
        _ => None,
    }
}

fn whoami(user: String) -> Methods {
    let mut methods = Methods::new();
    methods
        .method("whoami", move |(): ()| {
            let user = user.clone();
            async move { Ok::<_, RpcError>(user) }
        })
        .unwrap();
    methods
}

async fn server(config: WsConfig) -> ServerHandle {
    Server::bind("127.0.0.1:0")
        .await
        .unwrap()
        .with_config(config)
        .on_handshake_async(|req| async move {
            let token = req.bearer_token().map(str::to_owned);
            lookup(token)
                .await
                .ok_or_else(|| Rejection::unauthorized("unknown token"))
        })
        .serve(|conn, info| {
            conn.register(whoami(info.auth.clone()))?;
            Ok(())
        })
}

fn client(url: &str, token: &str) -> ClientBuilder {
    ClientBuilder::new(url).header("authorization", format!("Bearer {token}"))
}

#[tokio::test]
async fn an_async_hook_that_awaits_accepts_and_refuses() {
    let server = server(WsConfig::default()).await;
    let alice = client(&server.url(), "t-alice").connect().await.unwrap().start();
    let user: String = alice.call("whoami", ()).await.unwrap();
    assert_eq!(user, "alice");
    let err = client(&server.url(), "t-mallory").connect().await.unwrap_err();
    assert_eq!(err.status(), Some(401), "{err}");
    assert!(err.to_string().contains("unknown token"), "{err}");
    alice.close().await;
    server.stop().await;
}

#[tokio::test]
async fn an_async_hook_past_the_handshake_timeout_is_refused() {
    let server = server(WsConfig::default().handshake_timeout(Duration::from_millis(500))).await;
    let err = tokio::time::timeout(BOUND, client(&server.url(), "t-slow").connect())
        .await
        .expect("refused within the bound")
        .unwrap_err();
    assert_eq!(err.status(), Some(503), "{err}");
    assert!(err.to_string().contains("handshake timed out"), "{err}");
    // Others are still served.
    let alice = client(&server.url(), "t-alice").connect().await.unwrap().start();
    let user: String = alice.call("whoami", ()).await.unwrap();
    assert_eq!(user, "alice");
    alice.close().await;
    server.stop().await;
}

/// A server whose setup awaits `delay` before registering its methods.
async fn async_setup_server(config: WsConfig, delay: Duration) -> ServerHandle {
    Server::bind("127.0.0.1:0")
        .await
        .unwrap()
        .with_config(config)
        .on_handshake(|req| Ok(req.query_param("user").unwrap_or("anonymous").to_owned()))
        .serve_async(move |_peer, info| async move {
            tokio::time::sleep(delay).await;
            Ok(whoami(info.auth))
        })
}

#[tokio::test]
async fn an_async_setup_awaits_then_registers_the_methods() {
    let server = async_setup_server(WsConfig::default(), Duration::from_millis(50)).await;
    let bob = duplexrpc_ws::connect(&format!("{}?user=bob", server.url()))
        .await
        .unwrap()
        .start();
    let user: String = bob.call("whoami", ()).await.unwrap();
    assert_eq!(user, "bob");
    bob.close().await;
    server.stop().await;
}

#[tokio::test]
async fn an_async_setup_past_the_handshake_timeout_closes_with_1011() {
    let config = WsConfig::default().handshake_timeout(Duration::from_millis(300));
    let server = async_setup_server(config, Duration::from_secs(60)).await;
    let conn = duplexrpc_ws::connect(&server.url()).await.unwrap();
    let status = conn.status();
    let peer = conn.start();
    tokio::time::timeout(BOUND, peer.closed())
        .await
        .expect("closed within the bound");
    let disconnect = status.disconnect().expect("the server closed it");
    assert_eq!(disconnect.code(), Some(1011), "{disconnect:?}");
    server.stop().await;
}
