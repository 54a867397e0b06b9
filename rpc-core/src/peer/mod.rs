//! The peer handle: make calls and send notifications to the other end.
//!
//! * this file: [`Peer`], and [`Notification`], a message serialized once;
//! * `builder`: [`PeerBuilder`], which registers services before the start;
//! * `config`: [`PeerConfig`];
//! * `call`: one outgoing call, from registration to reply;
//! * `slot`: [`PeerSlot`], a handle whose connection can be replaced.

mod builder;
mod call;
mod config;
mod slot;

use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::connection::Shared;
use crate::connection::outgoing::Outgoing;
use crate::observe::{CallTrace, Direction};
use crate::stream::{Consumer, RpcStream};
use crate::transport::{CloseReason, SharedText};
use crate::wire::error::RpcError;
use crate::wire::message::encode_call;
use call::{Call, deadline_after, traced, within};
use slot::Slot;

pub use crate::wire::protocol::CANCEL_METHOD;
pub use builder::PeerBuilder;
pub use config::PeerConfig;
pub use slot::PeerSlot;

/// A handle to one connection: call the remote peer's methods and send it
/// notifications. Cheap to clone; every clone talks over the same connection.
///
/// The same handle type serves both ends: nothing here knows which side opened
/// the socket. Generated stubs (`CalculatorClient::new(peer)`) wrap it.
///
/// ```
/// use duplexrpc_core::{Methods, PeerBuilder, RpcError, transport::memory};
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// let ((a_tx, a_rx), (b_tx, b_rx)) = memory::pair();
/// let mut server = PeerBuilder::new();
/// let mut methods = Methods::new();
/// methods.method("add", |(a, b): (i64, i64)| async move { Ok::<_, RpcError>(a + b) }).unwrap();
/// server.register(methods).unwrap();
/// let _server = server.start(a_tx, a_rx);
/// let client = PeerBuilder::new().start(b_tx, b_rx);
/// let sum: i64 = client.call("add", (2, 3)).await.unwrap();
/// assert_eq!(sum, 5);
/// # });
/// ```
#[derive(Clone, Debug)]
pub struct Peer {
    pub(crate) link: Link,
}

/// What a handle talks over: one connection, or whichever connection a
/// [`PeerSlot`] currently holds (a reconnecting client).
#[derive(Clone, Debug)]
pub(crate) enum Link {
    Direct(Arc<Shared>),
    Slot(Arc<Slot>),
}

impl Peer {
    /// Calls `method` on the remote peer and waits for its reply, at most the
    /// peer's default [`PeerConfig::call_timeout`].
    ///
    /// `params` is sent as given: a tuple or array is sent by position, a
    /// struct or map by name.
    ///
    /// Dropping the returned future cancels the call: its pending entry is
    /// freed and, if the request was already sent, the callee is sent
    /// `$/cancelRequest` (see [`CANCEL_METHOD`]).
    pub async fn call<P, R>(&self, method: &str, params: P) -> Result<R, RpcError>
    where
        P: Serialize,
        R: DeserializeOwned,
    {
        self.call_inner(method, params, self.default_timeout(), |_, _| {}).await
    }

    /// Like [`Peer::call`], with this call's own timeout.
    pub async fn call_with_timeout<P, R>(&self, method: &str, params: P, timeout: Duration) -> Result<R, RpcError>
    where
        P: Serialize,
        R: DeserializeOwned,
    {
        self.call_inner(method, params, Some(timeout), |_, _| {}).await
    }

    /// Calls a streaming method (one returning `RpcStream<T>`): the items
    /// arrive on the returned stream. Waiting for the stream to start is
    /// bounded by the default call timeout; the stream itself has no timeout.
    /// Dropping the stream cancels it on the remote side.
    pub async fn subscribe<P, T>(&self, method: &str, params: P) -> Result<RpcStream<T>, RpcError>
    where
        P: Serialize,
        T: DeserializeOwned + Send + 'static,
    {
        let mut registered: Option<(Arc<Shared>, u64, _)> = None;
        let register = |shared: &Arc<Shared>, id| {
            let rx = shared.streams.open(id);
            registered = Some((shared.clone(), id, rx));
        };
        let started = self
            .call_inner::<P, serde::de::IgnoredAny>(method, params, self.default_timeout(), register)
            .await;
        let Some((shared, id, rx)) = registered else {
            return Err(started.expect_err("a call that registered no stream failed"));
        };
        if let Err(e) = started {
            shared.streams.close(id);
            return Err(e);
        }
        Ok(RpcStream::new(Consumer::<T, Shared>::new(shared, id, rx)))
    }

    /// Sends a request and waits for its reply, all within `timeout`;
    /// `on_id` runs with the connection and the request's id before it is sent.
    async fn call_inner<P, R>(
        &self,
        method: &str,
        params: P,
        timeout: Option<Duration>,
        on_id: impl FnOnce(&Arc<Shared>, u64),
    ) -> Result<R, RpcError>
    where
        P: Serialize,
        R: DeserializeOwned,
    {
        let deadline = deadline_after(timeout);
        let waited;
        let shared = match &self.link {
            Link::Direct(shared) => shared,
            Link::Slot(slot) => {
                waited = slot.connected_before(deadline).await?;
                &waited
            }
        };
        let (id, reply) = shared.register_call(deadline.map(|(at, _)| at))?;
        on_id(shared, id);
        let call = Call {
            shared,
            id,
            limit: deadline.map(|(_, limit)| limit),
        };
        // Boxed: observed calls are the exception; inline, the span and
        // trace would grow every call's future.
        if let Some(trace) = CallTrace::start(&shared.metrics, Direction::Outgoing, method, &id) {
            return Box::pin(traced(trace, call.exchange(reply, method, params))).await;
        }
        call.exchange(reply, method, params).await
    }

    /// Sends a notification: no id, no reply. Completes once it is queued.
    pub async fn notify<P: Serialize>(&self, method: &str, params: P) -> Result<(), RpcError> {
        let text = encode_call(None, method, &params).map_err(|e| RpcError::Encode(e.to_string()))?;
        self.send_text(Outgoing::Text(text)).await
    }

    /// Sends a notification serialized earlier with [`Notification::new`]:
    /// the way to send one message to many peers while serializing it once.
    pub async fn send_notification(&self, notification: &Notification) -> Result<(), RpcError> {
        self.send_text(Outgoing::Shared(notification.text.clone())).await
    }

    /// Queues a notification serialized earlier if this connection's send
    /// queue has room, without waiting: what a broadcast to many peers uses,
    /// so that one peer that stopped reading holds up no one. Fails with
    /// [`RpcError::Limit`] when the queue is full, and when there is no
    /// connection (a reconnecting client between connections).
    ///
    /// ```
    /// use duplexrpc_core::{PeerBuilder, peer::Notification, transport::memory};
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// let ((a_tx, a_rx), _other_end) = memory::pair();
    /// let peer = PeerBuilder::new().start(a_tx, a_rx);
    /// let hello = Notification::new("hello", ()).unwrap();
    /// assert!(peer.try_send_notification(&hello).is_ok());
    /// # });
    /// ```
    pub fn try_send_notification(&self, notification: &Notification) -> Result<(), RpcError> {
        // A direct connection is used in place: no reference count to
        // touch per connection of a broadcast.
        let current;
        let shared = match &self.link {
            Link::Direct(shared) => shared,
            Link::Slot(slot) => {
                current = slot.current().ok_or_else(|| RpcError::Limit("not connected".into()))?;
                &current
            }
        };
        if shared.is_ended() {
            return Err(shared.disconnected());
        }
        match shared.try_send(Outgoing::Shared(notification.text.clone()))? {
            None => Ok(()),
            Some(_) => Err(RpcError::Limit("the send queue is full".into())),
        }
    }

    async fn send_text(&self, text: Outgoing) -> Result<(), RpcError> {
        let timeout = self.default_timeout();
        // Read the clock only where a wait may follow: one deadline for the
        // wait for a connection and the wait for room in the queue.
        let mut deadline = None;
        let shared = match &self.link {
            Link::Direct(shared) => shared.clone(),
            Link::Slot(slot) => {
                deadline = deadline_after(timeout);
                slot.connected_before(deadline).await?
            }
        };
        if shared.is_ended() {
            return Err(shared.disconnected());
        }
        // Only a full queue makes a notification wait (and needs a timer).
        match shared.try_send(text)? {
            None => Ok(()),
            Some(msg) => {
                within(deadline.or_else(|| deadline_after(timeout)), async {
                    shared.out.send(msg).await.map_err(|_| shared.disconnected())
                })
                .await
            }
        }
    }

    /// Closes the connection with a normal close: pending calls fail with
    /// `Disconnected`. Completes once the close is queued. (For a reconnecting
    /// client: stops reconnecting, for good.)
    pub async fn close(&self) {
        self.close_with(CloseReason::NORMAL).await;
    }

    /// Closes the connection with the given code and reason.
    pub async fn close_with(&self, reason: CloseReason) {
        let shared = match &self.link {
            Link::Direct(shared) => Some(shared.clone()),
            Link::Slot(slot) => {
                slot.stopped.cancel();
                slot.current()
            }
        };
        if let Some(shared) = shared {
            let text = format!("connection closed locally ({} {})", reason.code, reason.reason);
            // The writer sends the close frame, then stops; if it is already
            // gone the connection is over anyway.
            let _ = shared.out.try_send(Outgoing::Close(reason));
            shared.shut_down(&text);
        }
    }

    /// Completes when the connection is over, for whatever reason (for a
    /// reconnecting client: once it has been closed for good).
    pub async fn closed(&self) {
        match &self.link {
            Link::Direct(shared) => shared.done.cancelled().await,
            Link::Slot(slot) => slot.stopped.cancelled().await,
        }
    }

    /// Completes once the connection is over and its tasks have finished:
    /// the close has been sent and every handler has completed or been aborted.
    pub async fn finished(&self) {
        self.closed().await;
        let shared = match &self.link {
            Link::Direct(shared) => Some(shared.clone()),
            Link::Slot(slot) => slot.current(),
        };
        if let Some(shared) = shared {
            shared.done.cancelled().await;
            shared.tasks.wait().await;
        }
    }

    /// True once the connection is over.
    pub fn is_closed(&self) -> bool {
        match &self.link {
            Link::Direct(shared) => shared.done.is_cancelled(),
            Link::Slot(slot) => slot.stopped.is_cancelled(),
        }
    }

    /// Why the (current) connection ended, once it has.
    pub fn close_reason(&self) -> Option<Arc<str>> {
        match self.current()?.pending().closed()? {
            RpcError::Disconnected(reason) | RpcError::SessionLost(reason) => Some(reason.clone()),
            other => Some(other.to_string().into()),
        }
    }

    /// How many incoming calls (and notifications) this peer's handlers are
    /// running: what a graceful shutdown waits for.
    pub fn running_calls(&self) -> usize {
        self.current()
            .map_or(0, |s| s.max_concurrent_calls - s.handler_slots.available_permits())
    }

    /// How many of this peer's outgoing calls await a reply.
    pub fn pending_calls(&self) -> usize {
        self.current().map_or(0, |s| s.pending().len())
    }

    fn current(&self) -> Option<Arc<Shared>> {
        match &self.link {
            Link::Direct(shared) => Some(shared.clone()),
            Link::Slot(slot) => slot.current(),
        }
    }

    fn default_timeout(&self) -> Option<Duration> {
        match &self.link {
            Link::Direct(shared) => shared.call_timeout,
            Link::Slot(slot) => slot.call_timeout,
        }
    }

    pub(crate) fn direct(&self) -> Option<&Arc<Shared>> {
        match &self.link {
            Link::Direct(shared) => Some(shared),
            Link::Slot(_) => None,
        }
    }
}

/// A notification serialized once, to be sent to any number of peers with
/// [`Peer::send_notification`]. Generated clients build typed ones:
/// `BrowserClient::progress_notification(&50)`.
///
/// ```
/// let n = duplexrpc_core::peer::Notification::new("ui.progress", (50,)).unwrap();
/// assert_eq!(n.text(), r#"{"jsonrpc":"2.0","method":"ui.progress","params":[50]}"#);
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Notification {
    /// Shared by every connection it is queued to: no copy per connection.
    text: SharedText,
}

impl Notification {
    /// Serializes a notification of `method` with `params`.
    pub fn new<P: Serialize>(method: &str, params: P) -> Result<Self, RpcError> {
        let text = encode_call(None, method, &params).map_err(|e| RpcError::Encode(e.to_string()))?;
        Ok(Notification { text: text.into() })
    }

    /// The message text.
    pub fn text(&self) -> &str {
        self.text.as_str()
    }
}
