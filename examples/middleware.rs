//! Middleware around every call a client makes: per-method authorization
//! from the user the handshake authenticated, a rate limiter per user
//! (`governor`), and request logging with timing (`examples/src/middleware.rs`).
//!
//! Run: `cargo run -p examples --example middleware`
//!
//! The server knows two tokens: alice's and bob's. Only alice may call
//! `calc.clear`; each user may make 5 calls a second in bursts of 10, over
//! all of that user's connections. Every call is logged with its
//! connection, user, outcome and time, refused ones included.

use duplexrpc_core::RpcError;
use duplexrpc_ws::{ClientBuilder, Rejection, Server, ServerHandle};
use examples::middleware::{Authorize, LogCalls, Policy, RATE_LIMITED, RateLimit};
use examples::{Browser, BrowserClient, Calculator, CalculatorClient, CalculatorService};

/// The client's UI: says yes to the server's questions.
struct Yes;

impl Browser for Yes {
    async fn confirm(&self, _question: String) -> Result<bool, RpcError> {
        Ok(true)
    }

    async fn progress(&self, _pct: u8) {}
}

async fn server() -> std::io::Result<ServerHandle> {
    let policy = Policy::default().only("calc.clear", ["alice"]);
    let limiter = RateLimit::limiter(5, 10);
    let server = Server::bind("127.0.0.1:0")
        .await?
        .on_handshake(|req| match req.bearer_token() {
            Some("alice-token") => Ok("alice".to_string()),
            Some("bob-token") => Ok("bob".to_string()),
            _ => Err(Rejection::unauthorized("unknown token").with_header("www-authenticate", "Bearer")),
        });
    Ok(server.serve(move |conn, info| {
        // The setup knows the user (info.auth): each middleware keeps it.
        let user = &info.auth;
        conn.middleware(LogCalls::new(user.clone()));
        conn.middleware(RateLimit::new(limiter.clone(), user.clone()));
        conn.middleware(Authorize::new(policy.clone(), user.clone()));
        let browser = BrowserClient::new(conn.peer().clone());
        conn.register(CalculatorService::new(browser).into_methods())?;
        Ok(())
    }))
}

async fn client(server: &ServerHandle, token: &str) -> Result<CalculatorClient, Box<dyn std::error::Error>> {
    let mut conn = ClientBuilder::new(server.url())
        .header("Authorization", format!("Bearer {token}"))
        .connect()
        .await?;
    conn.register(Yes.into_methods())?;
    Ok(CalculatorClient::new(conn.start()))
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let _output = examples::init_output();
    let server = server().await?;
    let alice = client(&server, "alice-token").await?;
    let bob = client(&server, "bob-token").await?;

    tracing::info!("[alice] clear = {:?}", alice.clear("demo".into()).await);
    tracing::info!("[bob] clear = {:?}", bob.clear("demo".into()).await);

    // Bob's burst: 10 calls pass (one was clear), then the limiter refuses.
    let mut limited = 0;
    for i in 0..12 {
        match bob.add(i, i).await {
            Ok(_) => {}
            Err(e) if e.code() == Some(RATE_LIMITED) => limited += 1,
            Err(e) => return Err(e.into()),
        }
    }
    tracing::info!("[bob] 12 adds: {limited} rate limited");
    tracing::info!("[alice] add = {:?} (her own quota)", alice.add(2, 3).await);

    for calc in [alice, bob] {
        calc.peer().close().await;
    }
    server.stop().await;
    Ok(())
}
