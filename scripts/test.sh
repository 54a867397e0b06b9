#!/usr/bin/env bash
# The test command (README): every test of the project.
# On a fresh machine it first installs what the tests need and is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

# --- Cluster test prerequisites (issue 8) --------------------------------------
# examples/tests/cluster.rs and rpc-ws/tests/redis_backplane.rs start a real
# redis-server and Caddy (reverse proxy) on loopback ports; a fresh machine
# gets them from Debian's packages (the test harness starts and stops them).
if ! command -v redis-server >/dev/null || ! command -v caddy >/dev/null; then
  apt-get update
  DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends redis-server caddy
fi

# Where cargo puts binaries: ask it (CARGO_TARGET_DIR or a config may move it).
target_dir=$(cargo metadata --format-version 1 --no-deps |
  python3 -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])')

# --- Rust: unit, integration, compile-fail, doc tests --------------------------
cargo test --workspace

# --- Benchmark smoke run -------------------------------------------------------
# bench/ is not a default member; build it in release and check that its one
# command runs every system and workload and prints the report. No timing is
# asserted (README, "Performance").
cargo build --release -p bench
report=$("$target_dir/release/bench" --quick --out "$target_dir/bench-results/smoke.jsonl")
echo "$report"
grep -q '^#### Targets' <<<"$report"

# --- TypeScript: generated bindings, runtime, Node and headless Chromium -------
# (README, "TypeScript".) A fresh machine gets Debian's chromium (never a
# browser download) and the npm packages pinned in ts/package-lock.json.
if [ ! -x /usr/bin/chromium ]; then
  apt-get update
  DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends chromium
fi
# (npm writes node_modules/.package-lock.json on install: older than the
# committed lockfile, or missing, means the packages are stale or absent.)
if ! [ ts/node_modules/.package-lock.json -nt ts/package-lock.json ]; then
  (cd ts && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund)
fi
tsc=ts/node_modules/.bin/tsc
# The committed bindings are what the Rust traits generate now.
cargo run -q -p examples --bin export-ts -- --out examples/web/src/api.ts --check
# Strict type checks: the runtime; the page with the generated api.ts; the
# tests, including the type-level test (types.check.ts, @ts-expect-error).
"$tsc" --strict --noEmit -p ts/tsconfig.json
"$tsc" --strict --noEmit -p examples/web/tsconfig.json
"$tsc" --strict --noEmit -p ts/tsconfig.test.json
# The committed JavaScript (ts/dist, examples/web/dist) is what tsc builds.
ts_out=$(mktemp -d)
"$tsc" -p ts/tsconfig.json --outDir "$ts_out/runtime"
"$tsc" -p examples/web/tsconfig.json --outDir "$ts_out/web"
diff -r "$ts_out/runtime" ts/dist
diff -r "$ts_out/web" examples/web/dist
rm -rf "$ts_out"
# node --test: the runtime over a fake socket; the generated client against
# the Rust example server (a child process); the type-level test through the
# compiler API; the page in headless Chromium.
cargo build -q -p examples --example server
export RPC_EXAMPLE_SERVER="$target_dir/debug/examples/server"
rm -rf ts/build
"$tsc" -p ts/tsconfig.test.json
(cd ts && node --test build/ts/test/*.test.js)
