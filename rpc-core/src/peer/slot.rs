//! A peer handle whose connection can be replaced (a reconnecting client).

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use super::call::{Deadline, within};
use super::{Link, Peer};
use crate::connection::Shared;
use crate::wire::error::RpcError;

/// The state behind a [`PeerSlot`].
#[derive(Debug)]
pub(crate) struct Slot {
    current: watch::Sender<Option<Arc<Shared>>>,
    pub(super) stopped: CancellationToken,
    pub(super) call_timeout: Option<Duration>,
}

impl Slot {
    pub(super) fn current(&self) -> Option<Arc<Shared>> {
        self.current.borrow().clone()
    }

    /// The current connection if it is open; otherwise waits for the next
    /// one until `deadline`.
    pub(super) async fn connected_before(&self, deadline: Deadline) -> Result<Arc<Shared>, RpcError> {
        if let Some(shared) = self.current()
            && !shared.done.is_cancelled()
            && !self.stopped.is_cancelled()
        {
            return Ok(shared);
        }
        // Boxed: only a call that finds no connection waits (and needs a timer).
        Box::pin(within(deadline, self.connected())).await
    }

    /// The current connection if it is open; otherwise waits for the next
    /// one (the caller's timeout bounds the wait).
    async fn connected(&self) -> Result<Arc<Shared>, RpcError> {
        let mut changes = self.current.subscribe();
        loop {
            if self.stopped.is_cancelled() {
                return Err(RpcError::Disconnected("the client was closed".into()));
            }
            if let Some(shared) = changes.borrow_and_update().clone()
                && !shared.done.is_cancelled()
            {
                return Ok(shared);
            }
            // No open connection: wait for the next one (or the stop).
            tokio::select! {
                _ = self.stopped.cancelled() => {}
                _ = changes.changed() => {}
            }
        }
    }
}

/// A [`Peer`] handle whose connection can be replaced: what a reconnecting
/// client hands out. Stubs built on [`PeerSlot::peer`] follow every new
/// connection; while there is none, calls wait (up to their timeout).
/// Calls pending on a connection that drops fail with `Disconnected`; they
/// are never retried (a call may have had effects).
///
/// ```
/// use duplexrpc_core::{PeerBuilder, PeerSlot, transport::memory};
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// let slot = PeerSlot::new(None);
/// let ((tx, rx), _other_end) = memory::pair();
/// slot.connect(&PeerBuilder::new().start(tx, rx));
/// assert!(!slot.peer().is_closed());
/// slot.peer().close().await; // stops the slot for good
/// assert!(slot.is_stopped());
/// # });
/// ```
#[derive(Clone, Debug)]
pub struct PeerSlot {
    slot: Arc<Slot>,
}

impl PeerSlot {
    /// An empty slot; `call_timeout` is the default timeout of calls made
    /// through it (waiting for a connection included).
    pub fn new(call_timeout: Option<Duration>) -> Self {
        PeerSlot {
            slot: Arc::new(Slot {
                current: watch::Sender::new(None),
                stopped: CancellationToken::new(),
                call_timeout,
            }),
        }
    }

    /// The handle that follows this slot's connections.
    pub fn peer(&self) -> Peer {
        Peer {
            link: Link::Slot(self.slot.clone()),
        }
    }

    /// Puts a (direct) connection in the slot; waiting calls proceed on it.
    /// A slot handle given here is ignored.
    pub fn connect(&self, peer: &Peer) {
        if let Some(shared) = peer.direct() {
            self.slot.current.send_replace(Some(shared.clone()));
        }
    }

    /// True once the slot's peer was closed: reconnecting should stop.
    pub fn is_stopped(&self) -> bool {
        self.slot.stopped.is_cancelled()
    }

    /// Completes once the slot's peer was closed.
    pub async fn stopped(&self) {
        self.slot.stopped.cancelled().await;
    }
}
