//! The writer task: the only owner of the connection's sending half.
//!
//! Everything outgoing (calls, notifications, replies, the close) arrives over
//! one bounded channel. The task feeds every message already queued before it
//! flushes, so a burst of replies leaves in one write.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;

use crate::peer::{Outgoing, Shared};
use crate::transport::{CloseReason, Sender, TransportError};

/// Most messages fed before a flush, so one busy connection cannot delay its
/// first reply indefinitely.
const MAX_BATCH: usize = 256;
/// How long the final close (and the messages queued before it) may take.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(1);

pub(crate) async fn run<S: Sender>(mut sender: S, mut queue: mpsc::Receiver<Outgoing>, shared: Arc<Shared>) {
    let mut keepalive = sender.ping_interval().map(|every| {
        let mut ticks = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        ticks
    });
    // One cancellation future for the whole loop, not a new one per burst.
    let done = shared.done.cancelled();
    tokio::pin!(done);
    let close = loop {
        let next = tokio::select! {
            biased;
            // Cancel-safe: `recv` loses nothing when the other branch wins.
            _ = &mut done => None,
            // Keepalive: ticks at most once per interval, so it never starves
            // the queue, and a busy writer still pings.
            _ = async { keepalive.as_mut().expect("checked").tick().await }, if keepalive.is_some() => {
                if let Err(e) = bounded_after_done(&shared, sender.ping()).await {
                    shared.shut_down(&format!("write failed: {e}"));
                    return;
                }
                continue;
            }
            msg = queue.recv() => msg,
        };
        match next {
            Some(Outgoing::Text(text)) => {
                match bounded_after_done(&shared, write_burst(&mut sender, text, &mut queue)).await {
                    Ok(None) => {}
                    Ok(Some(close)) => break close,
                    Err(e) => {
                        shared.shut_down(&format!("write failed: {e}"));
                        return;
                    }
                }
            }
            Some(Outgoing::Close(close)) => break close,
            None => break drain_for_close(&mut sender, &mut queue).await,
        }
    };
    let _ = tokio::time::timeout(CLOSE_TIMEOUT, sender.close(close.clone())).await;
    shared.shut_down(&format!("connection closed locally ({} {})", close.code, close.reason));
}

/// Runs a write; once the connection is over (e.g. the keepalive declared the
/// other end dead while a write waits on its full TCP window) the write gets
/// [`CLOSE_TIMEOUT`] more, then fails, so a dead peer's tasks always end.
async fn bounded_after_done<T>(
    shared: &Shared,
    write: impl std::future::Future<Output = Result<T, TransportError>>,
) -> Result<T, TransportError> {
    tokio::select! {
        // The write first: one that completes at once never registers the
        // cancellation waiter (two mutex round trips per burst).
        biased;
        result = write => result,
        _ = async {
            shared.done.cancelled().await;
            tokio::time::sleep(CLOSE_TIMEOUT).await;
        } => Err(TransportError::Io("write stalled after the connection ended".into())),
    }
}

/// Feeds `first` and whatever else is queued, then flushes once. Returns the
/// close reason if a close was queued behind the messages.
async fn write_burst<S: Sender>(
    sender: &mut S,
    first: String,
    queue: &mut mpsc::Receiver<Outgoing>,
) -> Result<Option<CloseReason>, TransportError> {
    sender.feed(first).await?;
    let mut close = None;
    for _ in 1..MAX_BATCH {
        match queue.try_recv() {
            Ok(Outgoing::Text(text)) => sender.feed(text).await?,
            Ok(Outgoing::Close(reason)) => {
                close = Some(reason);
                break;
            }
            Err(_) => break,
        }
    }
    sender.flush().await?;
    Ok(close)
}

/// The connection is over: send what is still queued (best effort, bounded in
/// time) and pick the close reason a local `close_with` queued, if any.
async fn drain_for_close<S: Sender>(sender: &mut S, queue: &mut mpsc::Receiver<Outgoing>) -> CloseReason {
    let drain = async {
        while let Ok(msg) = queue.try_recv() {
            match msg {
                Outgoing::Text(text) => sender.feed(text).await.ok()?,
                Outgoing::Close(reason) => return Some(reason),
            }
        }
        None
    };
    let reason = tokio::time::timeout(CLOSE_TIMEOUT, drain).await.ok().flatten();
    reason.unwrap_or(CloseReason::NORMAL)
}
