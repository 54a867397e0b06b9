//! An in-process transport: two connected ends over unbounded channels.
//! For tests and examples that need no socket.

use std::task::{Context, Poll};

use tokio::sync::mpsc;

use super::{CloseReason, Receiver, Sender, TransportError};

enum Msg {
    Text(String),
    Close(CloseReason),
}

/// The sending half of a [`pair`] end.
#[derive(Debug)]
pub struct MemorySender(Option<mpsc::UnboundedSender<Msg>>);

/// The receiving half of a [`pair`] end.
#[derive(Debug)]
pub struct MemoryReceiver(mpsc::UnboundedReceiver<Msg>);

impl std::fmt::Debug for Msg {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Msg::Text(t) => write!(f, "Text({t})"),
            Msg::Close(r) => write!(f, "Close({r:?})"),
        }
    }
}

/// Two connected ends: what one end's sender sends, the other's receiver gets.
///
/// ```
/// use duplexrpc_core::transport::{memory, Receiver, Sender};
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// let ((mut a_tx, _a_rx), (_b_tx, mut b_rx)) = memory::pair();
/// a_tx.feed("hello".into()).await.unwrap();
/// assert_eq!(b_rx.receive().await.unwrap(), "hello");
/// # });
/// ```
pub fn pair() -> ((MemorySender, MemoryReceiver), (MemorySender, MemoryReceiver)) {
    let (a_tx, b_rx) = mpsc::unbounded_channel();
    let (b_tx, a_rx) = mpsc::unbounded_channel();
    (
        (MemorySender(Some(a_tx)), MemoryReceiver(a_rx)),
        (MemorySender(Some(b_tx)), MemoryReceiver(b_rx)),
    )
}

impl MemorySender {
    fn push(&mut self, msg: Msg) -> Result<(), TransportError> {
        let tx = self
            .0
            .as_ref()
            .ok_or_else(|| TransportError::Io("sender closed".into()))?;
        tx.send(msg).map_err(|_| TransportError::Closed(None))
    }
}

impl Sender for MemorySender {
    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), TransportError>> {
        Poll::Ready(Ok(()))
    }

    fn start_send(&mut self, text: String) -> Result<(), TransportError> {
        self.push(Msg::Text(text))
    }

    fn poll_flush(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), TransportError>> {
        Poll::Ready(Ok(()))
    }

    fn start_close(&mut self, reason: CloseReason) -> Result<(), TransportError> {
        let result = self.push(Msg::Close(reason));
        self.0 = None;
        result
    }

    fn poll_close(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), TransportError>> {
        self.0 = None;
        Poll::Ready(Ok(()))
    }
}

impl Receiver for MemoryReceiver {
    type Text = String;

    fn poll_receive(&mut self, cx: &mut Context<'_>) -> Poll<Result<String, TransportError>> {
        self.0.poll_recv(cx).map(|msg| match msg {
            Some(Msg::Text(t)) => Ok(t),
            Some(Msg::Close(reason)) => Err(TransportError::Closed(Some(reason))),
            None => Err(TransportError::Closed(None)),
        })
    }
}
