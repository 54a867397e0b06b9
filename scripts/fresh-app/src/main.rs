//! A user's axum app with the duplexrpc endpoint on its own port, built
//! against the packaged crates outside the workspace (scripts/package.sh):
//! `/health` and `/rpc` on one port, one call each way, a graceful stop.

use std::net::SocketAddr;

use axum::Router;
use axum::routing::get;
use duplexrpc::ws::{Endpoint, HandshakeRequest, Rejection};
use duplexrpc::{RpcError, rpc};

/// Served by the server.
#[rpc(namespace = "greet")]
pub trait Greeter {
    async fn hello(&self, name: String) -> Result<String, RpcError>;
}

/// Served by the client; the server calls it inside `hello`.
#[rpc(namespace = "ui")]
pub trait Ui {
    async fn confirm(&self, question: String) -> Result<bool, RpcError>;
}

struct GreeterService {
    ui: UiClient,
    user: String,
}

impl Greeter for GreeterService {
    async fn hello(&self, name: String) -> Result<String, RpcError> {
        let ok = self.ui.confirm(format!("greet {name}?")).await?;
        Ok(format!("hello {name} from {} ({ok})", self.user))
    }
}

struct UiService;

impl Ui for UiService {
    async fn confirm(&self, _question: String) -> Result<bool, RpcError> {
        Ok(true)
    }
}

async fn authenticate(req: HandshakeRequest) -> Result<String, Rejection> {
    match req.bearer_token() {
        Some("secret") => Ok("alice".to_owned()),
        _ => Err(Rejection::unauthorized("missing or unknown token")),
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let rpc = Endpoint::builder().on_handshake_async(authenticate).build(|conn, info| {
        let ui = UiClient::new(conn.peer().clone());
        conn.register(GreeterService { ui, user: info.auth.clone() }.into_methods())?;
        Ok(())
    });
    let app = Router::new()
        .route("/health", get(|| async { "ok" }))
        .route("/rpc", get(duplexrpc::ws::axum::handler(rpc.clone())));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let stop = rpc.clone();
    let server = tokio::spawn(async move {
        axum::serve(listener, app.into_make_service_with_connect_info::<SocketAddr>())
            .with_graceful_shutdown(async move { stop.stopped().await })
            .await
    });

    let mut conn = duplexrpc::ws::ClientBuilder::new(format!("ws://{addr}/rpc"))
        .header("authorization", "Bearer secret")
        .connect()
        .await?;
    conn.register(UiService.into_methods())?;
    let peer = conn.start();
    let reply = GreeterClient::new(peer.clone()).hello("world".into()).await?;
    assert_eq!(reply, "hello world from alice (true)");
    println!("{reply}");
    rpc.stop().await;
    peer.closed().await;
    server.await??;
    Ok(())
}
