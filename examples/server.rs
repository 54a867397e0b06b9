//! The example server with a web page: open the printed URL in a browser and
//! watch calls go both ways.
//!
//! Run: `cargo run --example server` (or `cargo run --example server -- 8080`;
//! `--ws-port PORT` fixes the WebSocket's port, e.g. to restart a server where
//! reconnecting clients expect it; `--exit-on-eof` makes it also stop when its
//! stdin closes, for tests that run it as a child process)
//!
//! It listens on 127.0.0.1 on two ports: the page over plain HTTP (the port
//! given, or a free one), and the JSON-RPC WebSocket (a free port, or `--ws-port`), which is
//! [`examples::serve_with_config`], the same service the Rust demo talks to,
//! accepting browsers from the page's origin only. The page is told the
//! WebSocket's URL in a `<meta>` tag. Both URLs are printed on stdout, first thing:
//!
//! ```text
//! page: http://127.0.0.1:PORT/
//! websocket: ws://127.0.0.1:PORT/
//! ```
//!
//! The page's files (`web/`: the HTML, the page script compiled from
//! TypeScript, the generated bindings, and the `duplexrpc` runtime from
//! `ts/dist/`) are built into the binary, so running it needs no Node. The
//! HTTP side is hyper (GET and HEAD of a fixed list of files). The two ports
//! are kept so the tests can restart the WebSocket side alone (`--ws-port`);
//! to serve a page and the endpoint on one port, see `examples/axum.rs`.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::header::{CACHE_CONTROL, CONTENT_TYPE};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;

const HTML: &str = "text/html; charset=utf-8";
const JS: &str = "text/javascript; charset=utf-8";

/// Path, content type, contents.
const FILES: &[(&str, &str, &str)] = &[
    ("/", HTML, include_str!("web/index.html")),
    ("/app.js", JS, include_str!("web/dist/app.js")),
    ("/api.js", JS, include_str!("web/dist/api.js")),
    ("/client/index.js", JS, include_str!("../ts/dist/index.js")),
    ("/client/errors.js", JS, include_str!("../ts/dist/errors.js")),
    ("/client/handshake.js", JS, include_str!("../ts/dist/handshake.js")),
    ("/client/int64.js", JS, include_str!("../ts/dist/int64.js")),
    ("/client/offer.js", JS, include_str!("../ts/dist/offer.js")),
    ("/client/peer.js", JS, include_str!("../ts/dist/peer.js")),
    ("/client/session.js", JS, include_str!("../ts/dist/session.js")),
    ("/client/stream.js", JS, include_str!("../ts/dist/stream.js")),
    ("/client/wire.js", JS, include_str!("../ts/dist/wire.js")),
];

/// Where index.html expects the WebSocket URL.
const WS_URL_PLACEHOLDER: &str = "{{WS_URL}}";

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let _output = examples::init_output();
    let mut port = 0u16;
    let mut ws_port = 0u16;
    let mut exit_on_eof = false;
    let usage = "usage: server [PORT] [--ws-port PORT] [--exit-on-eof]";
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--exit-on-eof" => exit_on_eof = true,
            "--ws-port" => {
                let value = args.next().unwrap_or_default();
                ws_port = value.parse().map_err(|_| format!("{usage}; got --ws-port {value:?}"))?
            }
            _ => port = arg.parse().map_err(|_| format!("{usage}; got {arg:?}"))?,
        }
    }
    let http = TcpListener::bind(("127.0.0.1", port)).await?;
    let page_port = http.local_addr()?.port();
    // Cross-site WebSocket hijacking: browsers may connect from this page only
    // (clients that are not browsers send no Origin and are let in).
    let origins = [
        format!("http://127.0.0.1:{page_port}"),
        format!("http://localhost:{page_port}"),
    ];
    let mut config = duplexrpc_ws::WsConfig::default().allowed_origins(origins);
    if std::env::var_os("RPC_SESSIONS").is_some() {
        // Resumable sessions, with a short keepalive (the server acknowledges
        // on every tick and notices a frozen client soon): what the
        // TypeScript session tests run against.
        config = config
            .sessions(Some(duplexrpc_core::session::SessionConfig::default()))
            .keepalive(Some(Duration::from_millis(100)), Duration::from_millis(300));
    }
    let rpc = examples::serve_with_config(&format!("127.0.0.1:{ws_port}"), config).await?;
    tracing::info!("page: http://127.0.0.1:{page_port}/");
    tracing::info!("websocket: {}", rpc.url());
    tracing::info!("(open the page in a browser; Ctrl-C stops)");

    let pages = Arc::new(Pages::new(&rpc.url()));
    tokio::select! {
        result = serve_http(http, pages) => result?,
        _ = tokio::signal::ctrl_c() => {}
        _ = stdin_closed(), if exit_on_eof => {}
    }
    rpc.stop().await;
    Ok(())
}

/// The files, with the WebSocket URL filled in.
struct Pages {
    files: Vec<(&'static str, &'static str, Bytes)>,
}

impl Pages {
    fn new(ws_url: &str) -> Self {
        let files = FILES
            .iter()
            .map(|&(path, kind, text)| (path, kind, Bytes::from(text.replace(WS_URL_PLACEHOLDER, ws_url))))
            .collect();
        Pages { files }
    }

    fn respond(&self, req: &Request<Incoming>) -> Response<Full<Bytes>> {
        if req.method() != Method::GET && req.method() != Method::HEAD {
            return plain(StatusCode::METHOD_NOT_ALLOWED, "GET or HEAD only\n");
        }
        let path = match req.uri().path() {
            "/index.html" => "/",
            other => other,
        };
        match self.files.iter().find(|(p, _, _)| *p == path) {
            Some((_, kind, body)) => {
                let body = if req.method() == Method::HEAD {
                    Bytes::new()
                } else {
                    body.clone()
                };
                Response::builder()
                    .header(CONTENT_TYPE, *kind)
                    .header(CACHE_CONTROL, "no-store")
                    .body(Full::new(body))
                    .expect("a valid response")
            }
            None => plain(StatusCode::NOT_FOUND, "not found\n"),
        }
    }
}

fn plain(status: StatusCode, text: &'static str) -> Response<Full<Bytes>> {
    Response::builder()
        .status(status)
        .header(CONTENT_TYPE, "text/plain; charset=utf-8")
        .body(Full::new(Bytes::from_static(text.as_bytes())))
        .expect("a valid response")
}

async fn serve_http(listener: TcpListener, pages: Arc<Pages>) -> std::io::Result<()> {
    loop {
        let (stream, remote) = listener.accept().await?;
        let pages = pages.clone();
        tokio::spawn(async move {
            let service = service_fn(move |req| {
                let response = pages.respond(&req);
                async move { Ok::<_, Infallible>(response) }
            });
            if let Err(e) = http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await
            {
                log_http_error(remote, &e);
            }
        });
    }
}

/// Completes when stdin reaches its end (or fails).
async fn stdin_closed() {
    use tokio::io::AsyncReadExt;
    let mut stdin = tokio::io::stdin();
    let mut buf = [0u8; 256];
    while let Ok(n) = stdin.read(&mut buf).await {
        if n == 0 {
            break;
        }
    }
}

fn log_http_error(remote: SocketAddr, e: &hyper::Error) {
    if !e.is_incomplete_message() {
        tracing::warn!("[server] http connection from {remote}: {e}");
    }
}
