//! The clear ends of a resumable session (issue 15 item 4): the resume
//! window expires, the replay buffer overflows, the server restarted and
//! lost it, the server stops. Each time what was pending fails with the
//! typed `SessionLost` (not `Disconnected`) on both ends, the client says
//! so (`ConnectionEvent::SessionLost`) and starts a fresh session
//! (`Connected`) on which calls work again; a stop ends the session with no
//! resume attempt.

#[path = "common/proxy.rs"]
mod proxy;
#[path = "common/session.rs"]
mod session;

use std::time::Duration;

use duplexrpc_core::RpcError;
use duplexrpc_core::session::SessionConfig;
use duplexrpc_ws::ConnectionEvent;
use proxy::Proxy;
use session::{GROUP, HubClient, PhoneClient, client, serve, wait_for};

/// A call's outcome, within 10 s.
async fn outcome<T: std::fmt::Debug>(call: tokio::task::JoinHandle<Result<T, RpcError>>) -> Result<T, RpcError> {
    tokio::time::timeout(Duration::from_secs(10), call)
        .await
        .expect("an answer within 10 s")
        .unwrap()
}

fn assert_session_lost<T: std::fmt::Debug>(what: &str, result: Result<T, RpcError>) {
    match result {
        Err(e) => assert!(e.is_session_lost(), "{what}: {e:?} is not SessionLost"),
        Ok(v) => panic!("{what}: answered {v:?}"),
    }
}

/// After a `SessionLost` event: a fresh session (`Connected`) that the
/// server set up anew, on which calls work.
async fn fresh_session_works(
    events: &mut tokio::sync::mpsc::UnboundedReceiver<ConnectionEvent>,
    server: &mut session::TestServer,
    hub: &HubClient,
) {
    wait_for(events, |e| matches!(e, ConnectionEvent::Connected { .. })).await;
    server.next_accepted().await;
    assert_eq!(hub.slow_echo(2, 0).await.unwrap(), 2);
}

/// A session server with `sessions`, a resumable client through a proxy,
/// and a slow call pending each way on it.
struct Pending {
    server: session::TestServer,
    proxy: Proxy,
    client: duplexrpc_ws::ReconnectingClient,
    events: tokio::sync::mpsc::UnboundedReceiver<ConnectionEvent>,
    hub: HubClient,
    call: tokio::task::JoinHandle<Result<u64, RpcError>>,
    back: tokio::task::JoinHandle<Result<u64, RpcError>>,
}

async fn calls_pending_both_ways(sessions: SessionConfig) -> Pending {
    let mut server = serve("127.0.0.1:0".parse().unwrap(), sessions).await;
    let proxy = Proxy::start(server.handle.local_addr()).await;
    let (client, events, _ticks) = client(&proxy.url()).await;
    let accepted = server.next_accepted().await;
    let hub = HubClient::new(client.peer());
    let call = tokio::spawn({
        let hub = hub.clone();
        async move { hub.slow_echo(1, 5000).await }
    });
    let phone: PhoneClient = accepted.phone.clone();
    let back = tokio::spawn(async move { phone.slow_double(1, 5000).await });
    tokio::time::sleep(Duration::from_millis(100)).await;
    Pending {
        server,
        proxy,
        client,
        events,
        hub,
        call,
        back,
    }
}

#[tokio::test]
async fn an_expired_resume_window_loses_the_session_then_a_fresh_one_starts() {
    let window = SessionConfig::default().window(Duration::from_millis(300));
    let Pending {
        mut server,
        proxy,
        client,
        mut events,
        hub,
        call,
        back,
    } = calls_pending_both_ways(window).await;

    // Silent for longer than the window: both ends give the session up.
    proxy.freeze();
    let (lost, _) = wait_for(&mut events, |e| matches!(e, ConnectionEvent::SessionLost { .. })).await;
    assert_eq!(
        lost,
        ConnectionEvent::SessionLost {
            reason: "resume window expired".into()
        }
    );
    assert_session_lost("the client's call", outcome(call).await);
    assert_session_lost("the server's call", outcome(back).await);
    proxy.heal();
    fresh_session_works(&mut events, &mut server, &hub).await;
    client.close().await;
    server.handle.stop().await;
}

#[tokio::test]
async fn an_overflowing_replay_buffer_loses_the_session_then_a_fresh_one_starts() {
    let small = SessionConfig::default().replay(8, 1 << 20);
    let Pending {
        mut server,
        proxy,
        client,
        mut events,
        hub,
        call,
        back,
    } = calls_pending_both_ways(small).await;

    // Unacknowledged notifications beyond the buffer: the session is lost
    // on the server once its keepalive gives the connection up.
    proxy.freeze();
    for n in 0..20 {
        let tick = PhoneClient::tick_notification(&n).unwrap();
        server.registry.notify_group(GROUP, &tick).await.unwrap();
    }
    assert_session_lost("the server's call", outcome(back).await);
    proxy.heal();
    let (lost, _) = wait_for(&mut events, |e| matches!(e, ConnectionEvent::SessionLost { .. })).await;
    let ConnectionEvent::SessionLost { reason } = lost else {
        unreachable!()
    };
    assert!(
        ["unknown session", "replay buffer overflow"].contains(&&*reason),
        "{reason}"
    );
    assert_session_lost("the client's call", outcome(call).await);
    fresh_session_works(&mut events, &mut server, &hub).await;
    client.close().await;
    server.handle.stop().await;
}

#[tokio::test]
async fn a_restarted_server_does_not_know_the_session_then_a_fresh_one_starts() {
    let first = serve("127.0.0.1:0".parse().unwrap(), SessionConfig::default()).await;
    let addr = first.handle.local_addr();
    let proxy = Proxy::start(addr).await;
    let (client, mut events, _ticks) = client(&proxy.url()).await;
    let hub = HubClient::new(client.peer());
    let call = tokio::spawn({
        let hub = hub.clone();
        async move { hub.slow_echo(1, 5000).await }
    });
    tokio::time::sleep(Duration::from_millis(100)).await;

    // The server goes away without the client hearing of it (its close
    // frames are held by the frozen proxy, then dropped by the cut), and a
    // new one starts on the same port.
    proxy.freeze();
    first.handle.stop().await;
    let mut second = serve(addr, SessionConfig::default()).await;
    proxy.cut();
    proxy.heal();
    let (lost, _) = wait_for(&mut events, |e| matches!(e, ConnectionEvent::SessionLost { .. })).await;
    assert_eq!(
        lost,
        ConnectionEvent::SessionLost {
            reason: "unknown session".into()
        }
    );
    assert_session_lost("the client's call", outcome(call).await);
    fresh_session_works(&mut events, &mut second, &hub).await;
    client.close().await;
    second.handle.stop().await;
}

#[tokio::test]
async fn a_server_stop_ends_the_session_for_good_without_a_resume() {
    let first = serve("127.0.0.1:0".parse().unwrap(), SessionConfig::default()).await;
    let addr = first.handle.local_addr();
    let (client, mut events, _ticks) = client(&format!("ws://{addr}/")).await;
    let hub = HubClient::new(client.peer());
    assert_eq!(hub.slow_echo(3, 0).await.unwrap(), 3);
    first.handle.stop().await;
    let (dropped, _) = wait_for(&mut events, |e| matches!(e, ConnectionEvent::Disconnected { .. })).await;
    let ConnectionEvent::Disconnected { reason } = dropped else {
        unreachable!()
    };
    assert!(reason.contains("server shutting down"), "{reason}");
    // Back on the same port: a fresh session, never a resume.
    let mut second = serve(addr, SessionConfig::default()).await;
    let (connected, before) = wait_for(&mut events, |e| matches!(e, ConnectionEvent::Connected { .. })).await;
    assert!(
        before.iter().all(|e| matches!(e, ConnectionEvent::Retrying { .. })),
        "{before:?} before {connected:?}"
    );
    second.next_accepted().await;
    assert_eq!(hub.slow_echo(4, 0).await.unwrap(), 4);
    client.close().await;
    second.handle.stop().await;
}
