//! Servers and clients the integration tests share: a server on 127.0.0.1
//! port 0 with a given config and method set, the methods themselves, and a
//! client that connects and closes.

#![allow(dead_code)] // each test file uses part of it

use duplexrpc_core::__private::encode_stream;
use duplexrpc_core::{Methods, RpcError, RpcStream};
use duplexrpc_ws::{Server, ServerHandle, WsConfig};

/// A server with `config` whose every connection gets the methods `add`
/// puts in a fresh [`Methods`] (`add_echo`, `add_add`, ... below).
pub async fn serve(config: WsConfig, add: fn(&mut Methods)) -> ServerHandle {
    Server::bind("127.0.0.1:0")
        .await
        .unwrap()
        .with_config(config)
        .serve(move |conn, _| {
            let mut methods = Methods::new();
            add(&mut methods);
            conn.register(methods)?;
            Ok(())
        })
}

/// A default server that registers nothing.
pub async fn bare_server() -> ServerHandle {
    Server::bind("127.0.0.1:0").await.unwrap().serve(|_conn, _info| Ok(()))
}

/// `echo(s)`: `s`.
pub fn add_echo(methods: &mut Methods) {
    methods
        .method("echo", |(s,): (String,)| async move { Ok::<_, RpcError>(s) })
        .unwrap();
}

/// `add(a, b)`: `a + b`.
pub fn add_add(methods: &mut Methods) {
    methods
        .method("add", |(a, b): (i64, i64)| async move { Ok::<_, RpcError>(a + b) })
        .unwrap();
}

/// The reply of `blob`: a 44-byte request gets 64 KiB.
pub const BLOB: usize = 64 << 10;

/// `blob()`: a string of [`BLOB`] bytes.
pub fn add_blob(methods: &mut Methods) {
    methods
        .method("blob", |(): ()| async { Ok::<_, RpcError>("b".repeat(BLOB)) })
        .unwrap();
}

/// `forever()`: a stream that yields nothing and never ends.
pub fn add_forever(methods: &mut Methods) {
    methods
        .insert("forever", |_| {
            let stream: RpcStream<u32> = RpcStream::new(futures::stream::pending());
            Ok(Box::pin(async move { encode_stream(Ok::<_, RpcError>(stream)) }))
        })
        .unwrap();
}

/// A methods set with only `echo`.
pub fn echo() -> Methods {
    let mut methods = Methods::new();
    add_echo(&mut methods);
    methods
}

/// Connects a client to `server`, starts it and closes it: proof that the
/// server still upgrades (and, accepting in order, got past what came before).
pub async fn connect_and_close(server: &ServerHandle) {
    duplexrpc_ws::connect(&server.url())
        .await
        .unwrap()
        .start()
        .close()
        .await;
}

/// Raises the open-file limit for `sockets` client sockets plus the server's
/// ends (and some spare); returns how many sockets the limit allows.
pub fn raise_fd_limit(sockets: usize) -> usize {
    let want = (2 * sockets + 500) as u64;
    let got = rlimit::increase_nofile_limit(want).unwrap_or(1024);
    sockets.min((got.saturating_sub(500) / 2) as usize)
}

/// Opens `n` TCP connections to `addr` that never send anything.
pub async fn open_silent(addr: std::net::SocketAddr, n: usize) -> Vec<tokio::net::TcpStream> {
    let mut silent = Vec::with_capacity(n);
    for _ in 0..n {
        silent.push(tokio::net::TcpStream::connect(addr).await.unwrap());
    }
    silent
}
