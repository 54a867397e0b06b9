//! The reader task: receives messages, routes replies to pending calls, and
//! hands requests and notifications to the dispatcher.

use std::sync::Arc;

use crate::dispatch::{Dispatcher, Tasks};
use crate::methods::Methods;
use crate::peer::{Outgoing, PeerConfig, Shared};
use crate::transport::{Receiver, TransportError};

pub(crate) struct ReaderParams<R> {
    pub(crate) receiver: R,
    pub(crate) methods: Arc<Methods>,
    pub(crate) config: PeerConfig,
    pub(crate) shared: Arc<Shared>,
}

pub(crate) async fn run<R: Receiver>(params: ReaderParams<R>) {
    let ReaderParams {
        mut receiver,
        methods,
        config,
        shared,
    } = params;
    let mut dispatcher = Dispatcher::new(methods, shared.clone(), &config);
    let mut handlers = Tasks::new();
    // One cancellation future for the whole loop, not a new one per message.
    let done = shared.done.cancelled();
    tokio::pin!(done);
    let ended = loop {
        tokio::select! {
            biased;
            _ = &mut done => break None,
            // Reap finished handler tasks so the set stays small.
            Some(done) = handlers.join_next(), if !handlers.is_empty() => {
                if let Ok(Some(id)) = done {
                    dispatcher.finished(&id);
                }
            }
            // Cancel-safe by the `Receiver` contract.
            msg = receiver.receive() => match msg {
                Ok(text) => dispatcher.handle_frame(text.as_ref(), &mut handlers).await,
                Err(e) => break Some(e),
            },
        }
    };
    if let Some(e) = ended {
        if let TransportError::Protocol(reason) = &e {
            let _ = shared.out.try_send(Outgoing::Close(reason.clone()));
        }
        tracing::debug!(error = %e, "connection ended");
        shared.shut_down(&e.to_string());
    }
    // Pending calls have failed; give handlers waiting on them a moment to
    // observe that and finish, then abort the rest so no task outlives the
    // connection.
    let drain = async { while handlers.join_next().await.is_some() {} };
    let _ = tokio::time::timeout(config.handler_grace, drain).await;
    handlers.abort_all();
    if let Some(m) = &shared.metrics {
        m.connection_closed();
    }
}
