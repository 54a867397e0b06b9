//! Smoke run of the cluster benchmark (`cluster-bench`) with small sizes:
//! it starts Redis and the nodes, runs both workloads on one node and on
//! three, checks every delivery, and prints its table. No figure is
//! asserted (README, "Scaling out").

use std::process::Command;

#[test]
fn cluster_bench_runs_both_setups_and_prints_the_table() {
    let output = Command::new(env!("CARGO_BIN_EXE_cluster-bench"))
        .args(["--clients", "30", "--broadcasts", "5", "--calls", "20"])
        .env("CLUSTER_NODE", env!("CARGO_BIN_EXE_cluster-node"))
        .output()
        .expect("cluster-bench runs (needs redis-server)");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "cluster-bench failed:\n{stdout}\n{stderr}");
    assert!(stdout.contains("| | one node | three nodes + Redis |"), "{stdout}");
    for row in [
        "broadcast: deliveries/s",
        "call into another connection: p50",
        "call into another connection: p99",
    ] {
        let line = stdout
            .lines()
            .find(|l| l.contains(row))
            .unwrap_or_else(|| panic!("no {row:?} row:\n{stdout}"));
        // Two figures, one per setup.
        assert_eq!(line.matches('|').count(), 4, "{line}");
    }
}
