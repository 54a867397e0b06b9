//! The handler pipeline: the one path every incoming call takes, request or
//! notification. In order: trace, permit check, [`Dispatcher::invoke`] (the
//! middleware, if any, then the method's lookup and params parsing), one poll
//! on the spot, and, for a handler still pending, the rest of the call with
//! its permit and a panic guard.
//!
//! [`Dispatcher::invoke`] is where the connection's middleware wraps every
//! call (see [`super::middleware`]): it gets the method, params and id and
//! returns the handler's future.

use std::future::Future;
use std::panic::AssertUnwindSafe;

use futures::FutureExt;
use tracing::Instrument;

use super::Dispatcher;
use super::methods::{HandlerFuture, Outcome, Params};
use crate::observe::{self, CallOutcome, CallTrace};
use crate::wire::error::{ErrorObject, SERVER_BUSY};
use crate::wire::id::Id;

/// How far a call got on the spot. Its trace is finished, except for
/// [`Run::Running`], whose future finishes it.
pub(super) enum Run<F> {
    /// Every permit is taken: refused before the handler ran.
    Busy,
    /// No such method, or its params did not parse (or that part panicked).
    Rejected(ErrorObject),
    /// The handler completed on its first poll.
    Done(Result<Outcome, ErrorObject>),
    /// The handler is still pending: the rest of the call, to run in a task
    /// (it holds the call's permit until it completes).
    Running(F),
}

impl Dispatcher {
    /// Runs an incoming call as far as it goes without waiting; `id` is the
    /// request's, `None` for a notification.
    pub(super) fn run(
        &self,
        method: &str,
        params: Params<'_>,
        id: Option<&Id>,
    ) -> Run<impl Future<Output = Result<Outcome, ErrorObject>> + Send + 'static> {
        let shown: &dyn std::fmt::Display = match id {
            Some(id) => id,
            None => &"none",
        };
        let trace = CallTrace::start_incoming(&self.shared.metrics, method, shown, |m| self.stack.knows(m));
        let _entered = trace.as_ref().map(|t| t.span().clone().entered());
        // Only a handler still running after its first poll takes a permit:
        // a call that completes at once costs no Arc clone and no semaphore
        // release (a mutex). This task is the only one acquiring, so a permit
        // seen here is still there after the poll.
        if self.limit.available_permits() == 0 {
            if id.is_none() {
                tracing::warn!(method, "dropping notification: too many concurrent calls");
            }
            observe::finish(trace, CallOutcome::Error(SERVER_BUSY));
            return Run::Busy;
        }
        let mut fut = match self.invoke(method, params, id) {
            Ok(fut) => fut,
            Err(error) => {
                if id.is_none() {
                    tracing::debug!(method, %error, "notification failed");
                }
                observe::finish(trace, CallOutcome::Error(error.code));
                return Run::Rejected(error);
            }
        };
        if let Some(outcome) = poll_once(&mut fut) {
            observe::finish(trace, CallOutcome::of_reply(&outcome));
            return Run::Done(outcome);
        }
        let permit = self.limit.clone().try_acquire_owned().ok();
        let span = trace.as_ref().map_or_else(tracing::Span::none, |t| t.span().clone());
        Run::Running(async move {
            let outcome = catch_panic(fut).instrument(span).await;
            drop(permit);
            observe::finish(trace, CallOutcome::of_reply(&outcome));
            outcome
        })
    }

    /// Runs the call through the middleware to its handler's synchronous
    /// part (lookup, params parsing): where every call meets its handler. A
    /// panic in a middleware or in params parsing becomes -32603.
    fn invoke(&self, method: &str, params: Params<'_>, id: Option<&Id>) -> Result<HandlerFuture, ErrorObject> {
        std::panic::catch_unwind(AssertUnwindSafe(|| self.stack.invoke(method, params, id)))
            .unwrap_or_else(|panic| Err(panicked(&panic)))
    }
}

/// Polls a handler once; `None` if it is still pending. A panic becomes -32603.
fn poll_once(fut: &mut HandlerFuture) -> Option<Result<Outcome, ErrorObject>> {
    match std::panic::catch_unwind(AssertUnwindSafe(|| fut.as_mut().now_or_never())) {
        Ok(outcome) => outcome,
        Err(panic) => Some(Err(panicked(&panic))),
    }
}

async fn catch_panic(fut: HandlerFuture) -> Result<Outcome, ErrorObject> {
    AssertUnwindSafe(fut)
        .catch_unwind()
        .await
        .unwrap_or_else(|panic| Err(panicked(&panic)))
}

fn panicked(panic: &Box<dyn std::any::Any + Send>) -> ErrorObject {
    let what = panic
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown panic".into());
    ErrorObject::internal(format_args!("handler panicked: {what}"))
}
