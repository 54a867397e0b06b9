//! A resumable session through an endpoint mounted in an axum app (the
//! hyper upgrade path, not the standalone server's): a clean cut and a
//! silent freeze in the middle of a call both ways end in `Resumed`, on the
//! same server-side connection (its setup runs once), and the pending calls
//! complete.

#[path = "common/proxy.rs"]
mod proxy;
#[path = "common/session.rs"]
mod session;

use std::net::SocketAddr;
use std::time::Duration;

use axum::Router;
use axum::routing::get;
use duplexrpc_core::session::SessionConfig;
use duplexrpc_ws::{ConnectionEvent, Endpoint, WsConfig};
use proxy::Proxy;
use session::{HubClient, PhoneClient, client, hub, short_keepalive, wait_for};
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

/// An axum app with the endpoint on `/rpc`, sessions on; each connection it
/// sets up sends its client stub to the returned receiver.
async fn app() -> (
    SocketAddr,
    Endpoint,
    CancellationToken,
    mpsc::UnboundedReceiver<PhoneClient>,
) {
    let (tx, accepted) = mpsc::unbounded_channel();
    let config = short_keepalive(WsConfig::default()).sessions(Some(SessionConfig::default()));
    let endpoint = Endpoint::builder().with_config(config).build(move |conn, _info| {
        let peer = conn.peer().clone();
        let _ = tx.send(PhoneClient::new(peer.clone()));
        conn.register(hub(peer))?;
        Ok(())
    });
    let router = Router::new().route("/rpc", get(duplexrpc_ws::axum::handler(endpoint.clone())));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let shutdown = CancellationToken::new();
    let stop = shutdown.clone();
    tokio::spawn(async move {
        axum::serve(listener, router.into_make_service_with_connect_info::<SocketAddr>())
            .with_graceful_shutdown(async move { stop.cancelled().await })
            .await
            .unwrap();
    });
    (addr, endpoint, shutdown, accepted)
}

#[tokio::test]
async fn a_session_through_axum_resumes_after_a_cut_and_a_freeze_with_calls_pending_both_ways() {
    let (addr, endpoint, shutdown, mut accepted) = app().await;
    let proxy = Proxy::start(addr).await;
    let (client, mut events, _ticks) = client(&format!("ws://{}/rpc", proxy.addr())).await;
    let hub = HubClient::new(client.peer());
    let phone = tokio::time::timeout(Duration::from_secs(10), accepted.recv())
        .await
        .expect("set up within 10 s")
        .unwrap();
    for (round, gap) in ["cut", "freeze"].into_iter().enumerate() {
        let round = round as u64;
        let call = tokio::spawn({
            let hub = hub.clone();
            async move { hub.slow_echo(round, 600).await }
        });
        let callback = tokio::spawn({
            let phone = phone.clone();
            async move { phone.slow_double(round + 10, 600).await }
        });
        tokio::time::sleep(Duration::from_millis(100)).await;
        if gap == "cut" {
            proxy.cut();
        } else {
            proxy.freeze();
        }
        wait_for(&mut events, |e| matches!(e, ConnectionEvent::Disconnected { .. })).await;
        proxy.heal();
        wait_for(&mut events, |e| matches!(e, ConnectionEvent::Resumed { .. })).await;
        assert_eq!(call.await.unwrap().unwrap(), round, "the client's call after the {gap}");
        assert_eq!(
            callback.await.unwrap().unwrap(),
            2 * (round + 10),
            "the server's call after the {gap}"
        );
    }
    assert!(accepted.try_recv().is_err(), "a resume sets nothing up again");
    client.close().await;
    tokio::time::timeout(Duration::from_secs(10), endpoint.stop())
        .await
        .expect("the endpoint stops");
    shutdown.cancel();
}
