#!/usr/bin/env bash
# The test command (README): every test of the project.
# On a fresh machine it first installs what the tests need and is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

# --- Rust: unit, integration, compile-fail, doc tests --------------------------
cargo test --workspace

# --- Benchmark smoke run -------------------------------------------------------
# bench/ is not a default member; build it in release and check that its one
# command runs every system and workload and prints the report. No timing is
# asserted (README, "Performance").
cargo build --release -p bench
report=$(./target/release/bench --quick --out target/bench-results/smoke.jsonl)
echo "$report"
grep -q '^#### Targets' <<<"$report"
