//! Resumable sessions across a dropped connection (issue 15): with traffic
//! in flight both ways, a proxy between client and server cuts the
//! connection (FIN both ways) or freezes it (silence, noticed by the
//! keepalive); the client resumes, and every pending call both ways, the
//! nested callback, the stream, the group notifications sent during the
//! gap and the client's numbered notifications arrive exactly once, in
//! order, with no `Disconnected` error and the same connection on the server.

#[path = "common/proxy.rs"]
mod proxy;
#[path = "common/session.rs"]
mod session;

use std::time::Duration;

use duplexrpc_core::session::SessionConfig;
use duplexrpc_ws::ConnectionEvent;
use futures::StreamExt;
use proxy::Proxy;
use session::{GROUP, HubClient, PhoneClient, client, eventually, serve, wait_for};

/// How the connection is dropped.
#[derive(Clone, Copy, Debug)]
enum Gap {
    /// Both sides get a FIN.
    Cut,
    /// Nothing is forwarded and nothing closed until both ends' keepalives
    /// gave up on the connection.
    Freeze,
}

const TICKS: u64 = 60;
const RECORDS: u64 = 60;
const STREAMED: u64 = 160;

async fn nothing_is_lost_across(gap: Gap) {
    let mut server = serve("127.0.0.1:0".parse().unwrap(), SessionConfig::default()).await;
    let proxy = Proxy::start(server.handle.local_addr()).await;
    let (client, mut events, ticks) = client(&proxy.url()).await;
    assert_eq!(events.recv().await, Some(ConnectionEvent::Connected { attempt: 0 }));
    let accepted = server.next_accepted().await;
    let hub = HubClient::new(client.peer());

    // Traffic in flight both ways, spanning the gap.
    let echo = tokio::spawn({
        let hub = hub.clone();
        async move { hub.slow_echo(7, 800).await }
    });
    let nested = tokio::spawn({
        let hub = hub.clone();
        async move { hub.nested(5, 600).await }
    });
    let phone: PhoneClient = accepted.phone.clone();
    let back = tokio::spawn(async move { phone.slow_double(21, 800).await });
    // More items than the stream's credit window (64): credits go back and
    // forth across the gap too.
    let mut stream = hub.count(STREAMED, 5).await.expect("stream opens");
    let streamed = tokio::spawn(async move {
        let mut items = Vec::new();
        while let Some(item) = stream.next().await {
            items.push(item);
        }
        items
    });
    let registry = server.registry.clone();
    let broadcast = tokio::spawn(async move {
        for n in 0..TICKS {
            let tick = PhoneClient::tick_notification(&n).unwrap();
            registry.notify_group(GROUP, &tick).await.unwrap();
            tokio::time::sleep(Duration::from_millis(15)).await;
        }
    });
    let records = tokio::spawn({
        let hub = hub.clone();
        async move {
            for n in 0..RECORDS {
                hub.record(n).await.unwrap();
                tokio::time::sleep(Duration::from_millis(15)).await;
            }
        }
    });

    tokio::time::sleep(Duration::from_millis(200)).await;
    match gap {
        Gap::Cut => proxy.cut(),
        Gap::Freeze => proxy.freeze(),
    }
    let (dropped, _) = wait_for(&mut events, |e| matches!(e, ConnectionEvent::Disconnected { .. })).await;
    if let Gap::Freeze = gap {
        proxy.heal();
    }
    let (resumed, before) = wait_for(&mut events, |e| matches!(e, ConnectionEvent::Resumed { .. })).await;
    assert!(
        before.iter().all(|e| matches!(e, ConnectionEvent::Retrying { .. })),
        "{gap:?}: {dropped:?} then {before:?} before {resumed:?}"
    );

    assert_eq!(echo.await.unwrap().unwrap(), 7, "client -> server call across the gap");
    assert_eq!(nested.await.unwrap().unwrap(), 11, "nested callback across the gap");
    assert_eq!(back.await.unwrap().unwrap(), 42, "server -> client call across the gap");
    let items = streamed.await.unwrap();
    let items: Vec<u64> = items.into_iter().map(|item| item.expect("no stream error")).collect();
    assert_eq!(
        items,
        (0..STREAMED).collect::<Vec<_>>(),
        "every stream item once, in order"
    );
    broadcast.await.unwrap();
    records.await.unwrap();
    let recorded = hub.recorded().await.unwrap();
    assert_eq!(
        recorded,
        (0..RECORDS).collect::<Vec<_>>(),
        "client -> server notifications"
    );
    eventually("every tick delivered", || ticks.0.lock().unwrap().len() as u64 >= TICKS).await;
    assert_eq!(
        *ticks.0.lock().unwrap(),
        (0..TICKS).collect::<Vec<_>>(),
        "group notifications, those of the gap too"
    );

    // Still the same connection for the server: no second setup, same id.
    assert!(server.accepted.try_recv().is_err(), "a resume sets nothing up");
    assert_eq!(server.registry.members(GROUP), vec![accepted.id]);
    assert!(proxy.accepted() >= 2, "the client came back on a new TCP connection");
    client.close().await;
    server.handle.stop().await;
}

#[tokio::test]
async fn a_clean_cut_in_the_middle_of_traffic_loses_nothing() {
    nothing_is_lost_across(Gap::Cut).await;
}

#[tokio::test]
async fn a_silent_freeze_in_the_middle_of_traffic_loses_nothing() {
    nothing_is_lost_across(Gap::Freeze).await;
}

#[tokio::test]
async fn a_call_timeout_keeps_running_during_the_gap() {
    let server = serve("127.0.0.1:0".parse().unwrap(), SessionConfig::default()).await;
    let proxy = Proxy::start(server.handle.local_addr()).await;
    let (client, mut events, _ticks) = client(&proxy.url()).await;
    let hub = HubClient::new(client.peer());
    let patient = hub.clone();
    let hasty = HubClient::new(client.peer()).with_timeout(Duration::from_millis(300));
    let slow = tokio::spawn(async move { patient.slow_echo(1, 1500).await });
    let timed = tokio::spawn(async move { hasty.slow_echo(2, 1500).await });
    proxy.freeze();
    wait_for(&mut events, |e| matches!(e, ConnectionEvent::Disconnected { .. })).await;
    let timed_out = timed.await.unwrap();
    assert!(
        matches!(timed_out, Err(duplexrpc_core::RpcError::Timeout(_))),
        "{timed_out:?}"
    );
    proxy.heal();
    wait_for(&mut events, |e| matches!(e, ConnectionEvent::Resumed { .. })).await;
    assert_eq!(
        slow.await.unwrap().unwrap(),
        1,
        "the call without a short timeout completes"
    );
    client.close().await;
    server.handle.stop().await;
}
