//! The endpoint served from a route of an axum app, on the app's port, with
//! every feature of the standalone server: the hook and its auth value (401),
//! the Origin allow-list (403), calls both ways, graceful stop with 1001, and
//! the app's own routes (`/health`) next to it.

use std::net::SocketAddr;
use std::time::Duration;

use axum::Router;
use axum::routing::get;
use duplexrpc_core::{Methods, Peer, RpcError};
use duplexrpc_ws::{ClientBuilder, ConnectionStatus, Endpoint, Rejection, WsConfig};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;

const BOUND: Duration = Duration::from_secs(15);
const ORIGIN: &str = "https://app.example.com";

/// Told when a `slow` call starts.
static SLOW_STARTED: tokio::sync::Notify = tokio::sync::Notify::const_new();

/// An axum app: `/health` and `/rpc` (the endpoint) on one port. The server's
/// `double_via_client(x)` calls the client's `ui.double(x)`.
struct App {
    addr: SocketAddr,
    endpoint: Endpoint<String>,
    shutdown: CancellationToken,
    served: tokio::task::JoinHandle<()>,
}

async fn app() -> App {
    app_with(WsConfig::default()).await
}

/// [`app`] with `config` (and the Origin allow-list).
async fn app_with(config: WsConfig) -> App {
    let endpoint = Endpoint::builder()
        .with_config(config.allowed_origins([ORIGIN]))
        .on_handshake_async(|req| async move {
            tokio::time::sleep(Duration::from_millis(10)).await; // a session store
            match req.bearer_token() {
                Some("t-alice") => Ok("alice".to_string()),
                _ => Err(Rejection::unauthorized("unknown token").with_header("www-authenticate", "Bearer")),
            }
        })
        .build(|conn, info| {
            assert!(info.remote_addr.ip().is_loopback(), "{}", info.remote_addr);
            let mut methods = Methods::new();
            let user = info.auth.clone();
            methods.method("whoami", move |(): ()| {
                let user = user.clone();
                async move { Ok::<_, RpcError>(user) }
            })?;
            let client = conn.peer().clone();
            methods.method("double_via_client", move |(x,): (i64,)| {
                let client = client.clone();
                async move { client.call::<_, i64>("ui.double", (x,)).await }
            })?;
            methods.method("slow", |(ms,): (u64,)| async move {
                SLOW_STARTED.notify_one();
                tokio::time::sleep(Duration::from_millis(ms)).await;
                Ok::<_, RpcError>(ms)
            })?;
            conn.register(methods)?;
            Ok(())
        });
    let router = Router::new()
        .route("/health", get(|| async { "ok" }))
        .route("/rpc", get(duplexrpc_ws::axum::handler(endpoint.clone())));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let shutdown = CancellationToken::new();
    let stop = shutdown.clone();
    let served = tokio::spawn(async move {
        axum::serve(listener, router.into_make_service_with_connect_info::<SocketAddr>())
            .with_graceful_shutdown(async move { stop.cancelled().await })
            .await
            .unwrap();
    });
    App {
        addr,
        endpoint,
        shutdown,
        served,
    }
}

impl App {
    fn url(&self) -> String {
        format!("ws://{}/rpc", self.addr)
    }

    /// Stops the endpoint (1001 to every connection) and the app.
    async fn stop(self) {
        tokio::time::timeout(BOUND, self.endpoint.stop())
            .await
            .expect("the endpoint stops");
        self.shutdown.cancel();
        tokio::time::timeout(BOUND, self.served)
            .await
            .expect("the app stops")
            .unwrap();
    }
}

/// Alice's client, serving `ui.double`.
async fn alice(url: &str) -> (Peer, ConnectionStatus) {
    let mut conn = ClientBuilder::new(url)
        .header("authorization", "Bearer t-alice")
        .connect()
        .await
        .unwrap();
    let mut ui = Methods::new();
    ui.method("ui.double", |(x,): (i64,)| async move { Ok::<_, RpcError>(2 * x) })
        .unwrap();
    conn.register(ui).unwrap();
    let status = conn.status();
    (conn.start(), status)
}

async fn http_get(addr: SocketAddr, path: &str) -> String {
    tokio::time::timeout(BOUND, async {
        let mut stream = TcpStream::connect(addr).await.unwrap();
        let request = format!("GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n");
        stream.write_all(request.as_bytes()).await.unwrap();
        let mut response = String::new();
        stream.read_to_string(&mut response).await.unwrap();
        response
    })
    .await
    .expect("answered")
}

#[tokio::test]
async fn calls_go_both_ways_and_the_hook_s_auth_value_reaches_the_handlers() {
    let app = app().await;
    let (peer, _status) = alice(&app.url()).await;
    let user: String = peer.call("whoami", ()).await.unwrap();
    assert_eq!(user, "alice");
    // A client's call whose handler calls back into the client.
    let doubled: i64 = peer.call("double_via_client", (21,)).await.unwrap();
    assert_eq!(doubled, 42);
    assert_eq!(app.endpoint.connections(), 1);
    peer.close().await;
    app.stop().await;
}

#[tokio::test]
async fn the_hook_refuses_with_401_and_the_origin_list_with_403() {
    let app = app().await;
    let err = duplexrpc_ws::connect(&app.url()).await.unwrap_err();
    assert_eq!(err.status(), Some(401), "{err}");
    assert!(err.to_string().contains("unknown token"), "{err}");
    let err = ClientBuilder::new(app.url())
        .header("authorization", "Bearer t-alice")
        .header("origin", "https://evil.example.net")
        .connect()
        .await
        .unwrap_err();
    assert_eq!(err.status(), Some(403), "{err}");
    // The listed origin is let in.
    let ok = ClientBuilder::new(app.url())
        .header("authorization", "Bearer t-alice")
        .header("origin", ORIGIN)
        .connect()
        .await
        .unwrap()
        .start();
    ok.close().await;
    app.stop().await;
}

#[tokio::test]
async fn stop_lets_a_running_call_finish_then_closes_with_1001() {
    let app = app().await;
    let (peer, status) = alice(&app.url()).await;
    let call = tokio::spawn({
        let peer = peer.clone();
        async move { peer.call::<_, u64>("slow", (200,)).await }
    });
    tokio::time::timeout(BOUND, SLOW_STARTED.notified())
        .await
        .expect("the call started");
    let endpoint = app.endpoint.clone();
    let stopping = tokio::spawn(async move { endpoint.stop().await });
    assert_eq!(tokio::time::timeout(BOUND, call).await.unwrap().unwrap(), Ok(200));
    tokio::time::timeout(BOUND, peer.closed()).await.unwrap();
    let disconnect = status.disconnect().expect("the server closed the connection");
    assert_eq!(disconnect.code(), Some(1001), "{disconnect:?}");
    stopping.await.unwrap();
    // A stopped endpoint refuses new connections.
    let err = alice_connect_err(&app.url()).await;
    assert_eq!(err.status(), Some(503), "{err}");
    app.stop().await;
}

async fn alice_connect_err(url: &str) -> duplexrpc_ws::ConnectError {
    ClientBuilder::new(url)
        .header("authorization", "Bearer t-alice")
        .connect()
        .await
        .unwrap_err()
}

#[tokio::test]
async fn the_app_s_own_routes_share_the_port_and_a_plain_get_of_the_endpoint_gets_426() {
    let app = app().await;
    let health = http_get(app.addr, "/health").await;
    assert!(health.starts_with("HTTP/1.1 200 OK"), "{health}");
    assert!(health.ends_with("ok"), "{health}");
    let plain = http_get(app.addr, "/rpc").await;
    assert!(plain.starts_with("HTTP/1.1 426 Upgrade Required"), "{plain}");
    assert!(plain.to_ascii_lowercase().contains("upgrade: websocket"), "{plain}");
    app.stop().await;
}

#[tokio::test]
async fn max_connections_holds_on_the_axum_route() {
    let app = app_with(WsConfig::default().max_connections(1)).await;
    let (first, _status) = alice(&app.url()).await;
    let err = alice_connect_err(&app.url()).await;
    assert_eq!(err.status(), Some(503), "{err}");
    assert!(err.to_string().contains("too many connections"), "{err}");
    let user: String = first.call("whoami", ()).await.unwrap();
    assert_eq!(user, "alice");
    first.close().await;
    app.stop().await;
}
