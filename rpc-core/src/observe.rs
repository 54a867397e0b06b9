//! Observability: a `tracing` span per call and per connection, and a small
//! metrics hook.
//!
//! Spans are at `DEBUG` (nothing is logged at `INFO` per call):
//! * `rpc.connection` (field `conn`) around a connection's reader and writer;
//! * `rpc.call` (fields `method`, `id`, `direction`) around every call, with
//!   a `DEBUG` event when it ends carrying `elapsed_us` and `outcome`.
//!
//! Metrics: implement [`Metrics`] (every method has a no-op default) and set
//! it with [`crate::PeerConfig::metrics`]; [`Counters`] is a ready one that
//! keeps atomic totals to read or export.
//!
//! With the feature `metrics`, every peer also reports through the
//! [`metrics`](https://docs.rs/metrics) crate's facade, besides its own hook,
//! so any exporter (Prometheus, StatsD, ...) that installs a recorder gets
//! them without glue:
//!
//! | name | kind | labels | what |
//! |---|---|---|---|
//! | `duplexrpc_connections_opened_total` | counter | | connections started |
//! | `duplexrpc_connections_closed_total` | counter | | connections ended |
//! | `duplexrpc_connections_open` | gauge | | connections open now |
//! | `duplexrpc_calls_in_flight` | gauge | `direction` | calls started, not yet ended |
//! | `duplexrpc_calls_total` | counter | `direction`, `method`, `outcome` | calls ended |
//! | `duplexrpc_call_errors_total` | counter | `direction`, `method`, `code` | calls ended with an error reply |
//! | `duplexrpc_call_duration_seconds` | histogram | `direction`, `method` | from receipt (or send) to reply |
//!
//! `direction` is `incoming` (the remote end called) or `outgoing`;
//! `method` is the method's name, or [`UNKNOWN_METHOD`] for an incoming
//! call to a method the connection does not have;
//! `outcome` is `ok`, `error` (an error reply, whose `code` the errors
//! counter has) or `failed` (no reply: disconnected, timed out, cancelled).
//! Incoming notifications count as calls; outgoing ones do not. The label
//! values are allocated per call, so the feature costs a little per call
//! even before a recorder is installed.
//!
//! When neither tracing nor a hook is enabled (and the feature is off) the
//! cost per call is one level check and one `Option` check.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use crate::wire::error::{ErrorObject, RpcError};

/// Which end started a call.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Direction {
    /// The remote end called this end.
    Incoming,
    /// This end called the remote end.
    Outgoing,
}

impl Direction {
    fn as_str(self) -> &'static str {
        match self {
            Direction::Incoming => "incoming",
            Direction::Outgoing => "outgoing",
        }
    }
}

/// How a call ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CallOutcome {
    /// Success.
    Ok,
    /// An error reply with this code.
    Error(i32),
    /// No reply: disconnected, timed out, cancelled or refused locally.
    Failed,
}

impl fmt::Display for CallOutcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CallOutcome::Ok => f.write_str("ok"),
            CallOutcome::Error(code) => write!(f, "error {code}"),
            CallOutcome::Failed => f.write_str("failed"),
        }
    }
}

impl CallOutcome {
    pub(crate) fn of_reply<T>(outcome: &Result<T, ErrorObject>) -> Self {
        match outcome {
            Ok(_) => CallOutcome::Ok,
            Err(e) => CallOutcome::Error(e.code),
        }
    }

    pub(crate) fn of_call<T>(outcome: &Result<T, RpcError>) -> Self {
        match outcome {
            Ok(_) => CallOutcome::Ok,
            Err(RpcError::Call(e)) => CallOutcome::Error(e.code),
            Err(_) => CallOutcome::Failed,
        }
    }
}

/// What the metrics name an incoming call to a method the connection does
/// not have (see [`Metrics`]).
pub const UNKNOWN_METHOD: &str = "(unknown)";

/// Receives connection and call events. Every method defaults to doing
/// nothing; implement the ones you export.
///
/// The `method` of an incoming call is its name if the connection has such
/// a method, and [`UNKNOWN_METHOD`] otherwise (also when a middleware
/// answered or refused it), so that a client making up names cannot grow
/// per-method metrics without bound.
pub trait Metrics: Send + Sync + fmt::Debug + 'static {
    /// A connection started.
    fn connection_opened(&self) {}
    /// A connection ended.
    fn connection_closed(&self) {}
    /// A call started (notifications included).
    fn call_started(&self, direction: Direction, method: &str) {
        let _ = (direction, method);
    }
    /// A call ended.
    fn call_finished(&self, direction: Direction, method: &str, elapsed: Duration, outcome: CallOutcome) {
        let _ = (direction, method, elapsed, outcome);
    }
}

/// A [`Metrics`] keeping totals in atomics.
///
/// ```
/// use std::sync::Arc;
/// use duplexrpc_core::{PeerConfig, observe::Counters};
/// let counters = Arc::new(Counters::default());
/// let config = PeerConfig::default().metrics(counters.clone());
/// assert_eq!(counters.snapshot().connections, 0);
/// # drop(config);
/// ```
#[derive(Debug, Default)]
pub struct Counters {
    calls_in: AtomicU64,
    calls_out: AtomicU64,
    errors: AtomicU64,
    in_flight: AtomicI64,
    connections: AtomicI64,
}

/// The values of [`Counters`] at one moment.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CountersSnapshot {
    /// Calls received (notifications included).
    pub calls_in: u64,
    /// Requests made (outgoing notifications are not counted).
    pub calls_out: u64,
    /// Calls that ended in an error reply or failed.
    pub errors: u64,
    /// Calls started and not yet ended, both directions.
    pub in_flight: i64,
    /// Open connections.
    pub connections: i64,
}

impl Counters {
    /// The current values.
    pub fn snapshot(&self) -> CountersSnapshot {
        CountersSnapshot {
            calls_in: self.calls_in.load(Ordering::Relaxed),
            calls_out: self.calls_out.load(Ordering::Relaxed),
            errors: self.errors.load(Ordering::Relaxed),
            in_flight: self.in_flight.load(Ordering::Relaxed),
            connections: self.connections.load(Ordering::Relaxed),
        }
    }
}

impl Metrics for Counters {
    fn connection_opened(&self) {
        self.connections.fetch_add(1, Ordering::Relaxed);
    }

    fn connection_closed(&self) {
        self.connections.fetch_sub(1, Ordering::Relaxed);
    }

    fn call_started(&self, direction: Direction, _method: &str) {
        let counter = match direction {
            Direction::Incoming => &self.calls_in,
            Direction::Outgoing => &self.calls_out,
        };
        counter.fetch_add(1, Ordering::Relaxed);
        self.in_flight.fetch_add(1, Ordering::Relaxed);
    }

    fn call_finished(&self, _direction: Direction, _method: &str, _elapsed: Duration, outcome: CallOutcome) {
        self.in_flight.fetch_sub(1, Ordering::Relaxed);
        if outcome != CallOutcome::Ok {
            self.errors.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// The hook a peer reports to: `hook` as configured, plus, with the feature
/// `metrics`, the `metrics` crate's facade.
pub(crate) fn with_facade(hook: Option<Arc<dyn Metrics>>) -> Option<Arc<dyn Metrics>> {
    #[cfg(feature = "metrics")]
    return Some(facade::Facade::around(hook));
    #[cfg(not(feature = "metrics"))]
    hook
}

#[cfg(feature = "metrics")]
mod facade;

/// One call being observed; `None` when neither tracing nor metrics want it.
#[derive(Debug)]
pub(crate) struct CallTrace {
    span: tracing::Span,
    started: Instant,
    direction: Direction,
    method: Box<str>,
    metrics: Option<Arc<dyn Metrics>>,
    /// Set once recorded; a trace dropped unrecorded (its handler was
    /// cancelled or aborted) records `Failed`, so every start has a finish.
    recorded: bool,
}

impl CallTrace {
    /// Starts observing a call, if anything listens.
    pub(crate) fn start(
        metrics: &Option<Arc<dyn Metrics>>,
        direction: Direction,
        method: &str,
        id: &dyn fmt::Display,
    ) -> Option<CallTrace> {
        Self::start_with(metrics, direction, method, id, |m| m.into())
    }

    /// Starts observing an incoming call; `known(method)` tells whether the
    /// connection has such a method. The metrics name an unknown one
    /// [`UNKNOWN_METHOD`] (the span has the name as received), so a client
    /// cannot grow them without bound by making up names.
    pub(crate) fn start_incoming(
        metrics: &Option<Arc<dyn Metrics>>,
        method: &str,
        id: &dyn fmt::Display,
        known: impl FnOnce(&str) -> bool,
    ) -> Option<CallTrace> {
        Self::start_with(metrics, Direction::Incoming, method, id, |m| {
            if known(m) { m.into() } else { UNKNOWN_METHOD.into() }
        })
    }

    fn start_with(
        metrics: &Option<Arc<dyn Metrics>>,
        direction: Direction,
        method: &str,
        id: &dyn fmt::Display,
        name: impl FnOnce(&str) -> Box<str>,
    ) -> Option<CallTrace> {
        let span = tracing::debug_span!("rpc.call", method, id = %id, direction = direction.as_str());
        if span.is_disabled() && metrics.is_none() {
            return None;
        }
        let method = name(method);
        if let Some(m) = metrics {
            m.call_started(direction, &method);
        }
        Some(CallTrace {
            span,
            started: Instant::now(),
            direction,
            method,
            metrics: metrics.clone(),
            recorded: false,
        })
    }

    /// The call's span, to enter or instrument with.
    pub(crate) fn span(&self) -> &tracing::Span {
        &self.span
    }

    /// Records how the call ended.
    pub(crate) fn finish(mut self, outcome: CallOutcome) {
        self.record(outcome);
    }

    fn record(&mut self, outcome: CallOutcome) {
        if std::mem::replace(&mut self.recorded, true) {
            return;
        }
        let elapsed = self.started.elapsed();
        self.span.in_scope(|| {
            tracing::debug!(elapsed_us = elapsed.as_micros() as u64, outcome = %outcome, "call finished");
        });
        if let Some(m) = &self.metrics {
            m.call_finished(self.direction, &self.method, elapsed, outcome);
        }
    }
}

impl Drop for CallTrace {
    fn drop(&mut self) {
        self.record(CallOutcome::Failed);
    }
}

/// Finishes an optional trace.
pub(crate) fn finish(trace: Option<CallTrace>, outcome: CallOutcome) {
    if let Some(t) = trace {
        t.finish(outcome);
    }
}
