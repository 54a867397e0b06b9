//! Counts and latencies through the `metrics` crate's facade (feature
//! `metrics`, issue 18 item 6), read back with a debugging recorder.
//!
//! Each test installs its recorder for its own thread only and runs the
//! peers on a current-thread runtime there, so tests do not see each other.

use std::collections::HashMap;
use std::sync::Arc;

use duplexrpc_core::observe::Counters;
use duplexrpc_core::{Methods, PeerBuilder, PeerConfig, RpcError, transport::memory};
use metrics_util::debugging::{DebugValue, DebuggingRecorder, Snapshotter};
use metrics_util::{CompositeKey, MetricKind};

/// (kind, name, sorted labels) -> value.
type Seen = HashMap<(MetricKind, String, Vec<(String, String)>), DebugValue>;

fn snapshot(snapshotter: &Snapshotter) -> Seen {
    snapshotter
        .snapshot()
        .into_vec()
        .into_iter()
        .map(|(key, _, _, value): (CompositeKey, _, _, _)| {
            let (kind, key) = key.into_parts();
            let mut labels: Vec<_> = key
                .labels()
                .map(|l| (l.key().to_owned(), l.value().to_owned()))
                .collect();
            labels.sort();
            ((kind, key.name().to_owned(), labels), value)
        })
        .collect()
}

fn labels(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    let mut labels: Vec<_> = pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    labels.sort();
    labels
}

fn counter(seen: &Seen, name: &str, pairs: &[(&str, &str)]) -> u64 {
    match seen.get(&(MetricKind::Counter, name.into(), labels(pairs))) {
        Some(DebugValue::Counter(n)) => *n,
        other => panic!("counter {name} {pairs:?}: {other:?}; recorded: {:?}", seen.keys()),
    }
}

fn gauge(seen: &Seen, name: &str, pairs: &[(&str, &str)]) -> f64 {
    match seen.get(&(MetricKind::Gauge, name.into(), labels(pairs))) {
        Some(DebugValue::Gauge(v)) => v.into_inner(),
        other => panic!("gauge {name} {pairs:?}: {other:?}"),
    }
}

fn histogram_len(seen: &Seen, name: &str, pairs: &[(&str, &str)]) -> usize {
    match seen.get(&(MetricKind::Histogram, name.into(), labels(pairs))) {
        Some(DebugValue::Histogram(values)) => values.len(),
        other => panic!("histogram {name} {pairs:?}: {other:?}"),
    }
}

fn run_local(recorder: &DebuggingRecorder, test: impl Future<Output = ()>) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    metrics::with_local_recorder(recorder, || rt.block_on(test));
}

#[test]
fn calls_and_connections_are_reported_through_the_facade() {
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    // Our own hook keeps working beside the facade.
    let counters = Arc::new(Counters::default());
    let config = PeerConfig::default().metrics(counters.clone());
    run_local(&recorder, async {
        let ((a_tx, a_rx), (b_tx, b_rx)) = memory::pair();
        let mut methods = Methods::new();
        methods
            .method("add", |(a, b): (i64, i64)| async move { Ok::<_, RpcError>(a + b) })
            .unwrap();
        methods
            .method("fail", |(): ()| async { Err::<(), _>(RpcError::new(7, "nope")) })
            .unwrap();
        let mut server = PeerBuilder::with_config(config);
        server.register(methods).unwrap();
        let server = server.start(a_tx, a_rx);
        let client = PeerBuilder::new().start(b_tx, b_rx);
        for _ in 0..3 {
            assert_eq!(client.call::<_, i64>("add", (2, 3)).await.unwrap(), 5);
        }
        assert_eq!(client.call::<_, ()>("fail", ()).await.unwrap_err().code(), Some(7));
        // Made-up names all count as one label value: a client cannot grow
        // the metrics without bound.
        for name in ["nope", "nope2", "nope3"] {
            assert_eq!(client.call::<_, ()>(name, ()).await.unwrap_err().code(), Some(-32601));
        }

        client.close().await;
        client.finished().await;
        server.finished().await;

        // One snapshot: the debugging recorder starts afresh after each.
        let seen = snapshot(&snapshotter);
        let incoming = |method, outcome| [("direction", "incoming"), ("method", method), ("outcome", outcome)];
        let outgoing = |method, outcome| [("direction", "outgoing"), ("method", method), ("outcome", outcome)];
        assert_eq!(counter(&seen, "duplexrpc_calls_total", &incoming("add", "ok")), 3);
        assert_eq!(counter(&seen, "duplexrpc_calls_total", &outgoing("add", "ok")), 3);
        assert_eq!(counter(&seen, "duplexrpc_calls_total", &incoming("fail", "error")), 1);
        assert_eq!(
            counter(&seen, "duplexrpc_calls_total", &incoming("(unknown)", "error")),
            3
        );
        assert_eq!(counter(&seen, "duplexrpc_calls_total", &outgoing("nope2", "error")), 1);
        let incoming_nope = |labels: &Vec<(String, String)>| {
            labels.contains(&("direction".into(), "incoming".into()))
                && labels.iter().any(|(k, v)| k == "method" && v.starts_with("nope"))
        };
        assert!(!seen.keys().any(|(_, _, labels)| incoming_nope(labels)));
        let errors = |method, code| [("direction", "incoming"), ("method", method), ("code", code)];
        assert_eq!(counter(&seen, "duplexrpc_call_errors_total", &errors("fail", "7")), 1);
        let unknown = errors("(unknown)", "-32601");
        assert_eq!(counter(&seen, "duplexrpc_call_errors_total", &unknown), 3);
        let add = [("direction", "incoming"), ("method", "add")];
        assert_eq!(histogram_len(&seen, "duplexrpc_call_duration_seconds", &add), 3);
        assert_eq!(
            gauge(&seen, "duplexrpc_calls_in_flight", &[("direction", "incoming")]),
            0.0
        );
        assert_eq!(counter(&seen, "duplexrpc_connections_opened_total", &[]), 2);
        assert_eq!(counter(&seen, "duplexrpc_connections_closed_total", &[]), 2);
        assert_eq!(gauge(&seen, "duplexrpc_connections_open", &[]), 0.0);

        // The peer's own hook saw the same calls.
        let own = counters.snapshot();
        assert_eq!((own.calls_in, own.errors, own.connections), (7, 4, 0));
    });
}
