//! The first exchange of a session connection, on the raw transport before
//! the session takes it over: one frame each way.
//!
//! The functions return `impl Future + Send` rather than being `async fn`
//! (clippy's `manual_async_fn` allowed): their futures then say they are
//! `Send`, which the compiler otherwise fails to prove for the endpoint's
//! futures, generic over the handshake's auth type ("implementation of
//! `Send` is not general enough").

#![allow(clippy::manual_async_fn)]

use std::future::{Future, poll_fn};

use duplexrpc_core::session::Frame;
use duplexrpc_core::transport::{CloseReason, Transport, TransportError};

/// Writes `frame` and flushes it.
pub(crate) fn send<'a, T: Transport>(
    transport: &'a mut T,
    frame: &Frame,
) -> impl Future<Output = Result<(), TransportError>> + Send + 'a {
    let text = frame.to_string();
    async move {
        poll_fn(|cx| transport.poll_ready(cx)).await?;
        transport.start_send(text)?;
        poll_fn(|cx| transport.poll_flush(cx)).await
    }
}

/// The next text frame as a session frame; `Err` if the connection failed,
/// `Ok(None)` if what came is not one.
pub(crate) fn receive<T: Transport>(
    transport: &mut T,
) -> impl Future<Output = Result<Option<Frame>, TransportError>> + Send + '_ {
    async move {
        let text = poll_fn(|cx| transport.poll_receive(cx)).await?;
        Ok(Frame::parse(text.as_ref()))
    }
}

/// Closes the connection with `reason` (errors ignored: it is being dropped).
pub(crate) fn close<T: Transport>(transport: &mut T, reason: CloseReason) -> impl Future<Output = ()> + Send + '_ {
    async move {
        let closed = async {
            poll_fn(|cx| transport.poll_ready(cx)).await?;
            transport.start_close(reason)?;
            poll_fn(|cx| transport.poll_close(cx)).await
        };
        if let Err(e) = closed.await {
            tracing::debug!(error = %e, "closing a session connection failed");
        }
    }
}

/// Answers `#lost <reason>` and closes with 1000: the client starts afresh.
pub(crate) fn refuse<T: Transport>(transport: &mut T, reason: String) -> impl Future<Output = ()> + Send + '_ {
    async move {
        if send(transport, &Frame::Lost { reason }).await.is_ok() {
            close(transport, CloseReason::new(1000, "session lost")).await;
        }
    }
}
