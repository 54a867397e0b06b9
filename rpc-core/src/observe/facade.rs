//! Reporting through the `metrics` crate's facade (feature `metrics`); the
//! names are documented on [`crate::observe`].

use std::sync::Arc;
use std::time::Duration;

use metrics::{Unit, counter, describe_counter, describe_gauge, describe_histogram, gauge, histogram};

use super::{CallOutcome, Direction, Metrics};

const CONNECTIONS_OPENED: &str = "duplexrpc_connections_opened_total";
const CONNECTIONS_CLOSED: &str = "duplexrpc_connections_closed_total";
const CONNECTIONS_OPEN: &str = "duplexrpc_connections_open";
const CALLS_IN_FLIGHT: &str = "duplexrpc_calls_in_flight";
const CALLS: &str = "duplexrpc_calls_total";
const CALL_ERRORS: &str = "duplexrpc_call_errors_total";
const CALL_DURATION: &str = "duplexrpc_call_duration_seconds";

/// Reports every event to the installed `metrics` recorder, then to the
/// peer's own hook, if any.
#[derive(Debug)]
pub(super) struct Facade {
    hook: Option<Arc<dyn Metrics>>,
}

impl Facade {
    pub(super) fn around(hook: Option<Arc<dyn Metrics>>) -> Arc<dyn Metrics> {
        Arc::new(Facade { hook })
    }
}

/// Tells the recorder what each metric is (for an exporter's `# HELP`).
fn describe() {
    describe_counter!(CONNECTIONS_OPENED, "Connections started.");
    describe_counter!(CONNECTIONS_CLOSED, "Connections ended.");
    describe_gauge!(CONNECTIONS_OPEN, "Connections open now.");
    describe_gauge!(CALLS_IN_FLIGHT, "Calls started and not yet ended.");
    describe_counter!(CALLS, "Calls ended (incoming notifications included), by outcome.");
    describe_counter!(CALL_ERRORS, "Calls ended with an error reply, by code.");
    describe_histogram!(
        CALL_DURATION,
        Unit::Seconds,
        "From a call's receipt (or send) to its reply."
    );
}

fn outcome_label(outcome: CallOutcome) -> &'static str {
    match outcome {
        CallOutcome::Ok => "ok",
        CallOutcome::Error(_) => "error",
        CallOutcome::Failed => "failed",
    }
}

impl Metrics for Facade {
    fn connection_opened(&self) {
        describe();
        counter!(CONNECTIONS_OPENED).increment(1);
        gauge!(CONNECTIONS_OPEN).increment(1.0);
        if let Some(hook) = &self.hook {
            hook.connection_opened();
        }
    }

    fn connection_closed(&self) {
        counter!(CONNECTIONS_CLOSED).increment(1);
        gauge!(CONNECTIONS_OPEN).decrement(1.0);
        if let Some(hook) = &self.hook {
            hook.connection_closed();
        }
    }

    fn call_started(&self, direction: Direction, method: &str) {
        gauge!(CALLS_IN_FLIGHT, "direction" => direction.as_str()).increment(1.0);
        if let Some(hook) = &self.hook {
            hook.call_started(direction, method);
        }
    }

    fn call_finished(&self, direction: Direction, method: &str, elapsed: Duration, outcome: CallOutcome) {
        let dir = direction.as_str();
        gauge!(CALLS_IN_FLIGHT, "direction" => dir).decrement(1.0);
        let labels = [("direction", dir.to_owned()), ("method", method.to_owned())];
        histogram!(CALL_DURATION, &labels).record(elapsed.as_secs_f64());
        let [direction_label, method_label] = labels;
        if let CallOutcome::Error(code) = outcome {
            let code = ("code", code.to_string());
            counter!(CALL_ERRORS, &[direction_label.clone(), method_label.clone(), code]).increment(1);
        }
        let outcome_label = ("outcome", outcome_label(outcome).to_owned());
        counter!(CALLS, &[direction_label, method_label, outcome_label]).increment(1);
        if let Some(hook) = &self.hook {
            hook.call_finished(direction, method, elapsed, outcome);
        }
    }
}
