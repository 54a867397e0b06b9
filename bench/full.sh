#!/usr/bin/env bash
# One full run of every part of the benchmark, at one commit, one after the
# other on the same machine: wall-clock calls/s and memory, big messages,
# broadcast fan-out, many connections, then the deterministic counts
# (valgrind + strace; these do not depend on the machine's load, so they go
# last). Results land in bench/results/full-<date>/ with a machine.txt that
# describes where they were taken. About 40 minutes on 2 cores.
#
#   bash bench/full.sh                # everything
#   PARTS="run big" bash bench/full.sh
#   SCALE_CONNECTIONS=100000 bash bench/full.sh   # where RLIMIT_NOFILE allows it
#   RESULTS_DIR=bench/results/x bash bench/full.sh  # machine.txt is appended to
set -euo pipefail
cd "$(dirname "$0")/.."

parts=${PARTS:-"run big fanout scale cost"}
dir=${RESULTS_DIR:-bench/results/full-$(date -u +%F)}
mkdir -p "$dir"
cargo build --release -p bench
bench=target/release/bench

# The largest connection count one process may hold here: the hard fd limit
# less what the process needs besides its sockets.
hard=$(ulimit -Hn)
default_top=$(( hard < 100000 ? (hard - 500) / 500 * 500 : 100000 ))
scale=${SCALE_CONNECTIONS:-5000,10000,$default_top}

{
  echo "commit: $(git rev-parse --short HEAD)$(git diff --quiet || echo ' (dirty)')"
  echo "date: $(date -u '+%F %T UTC')"
  echo "cpus: $(nproc) ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs))"
  echo "memory: $(free -g | awk '/Mem:/ {print $2}') GiB"
  echo "kernel: $(uname -r)"
  echo "rustc: $(rustc --version)"
  echo "valgrind: $(valgrind --version 2>/dev/null || echo none)"
  echo "strace: $(strace -V 2>/dev/null | head -1 || echo none)"
  echo "RLIMIT_NOFILE hard: $hard (scale runs at $scale)"
  echo "load before: $(cut -d' ' -f1-3 /proc/loadavg)"
} >> "$dir/machine.txt"

for part in $parts; do
  echo "== $part ($(date -u +%T), load $(cut -d' ' -f1 /proc/loadavg))" | tee -a "$dir/machine.txt"
  case $part in
    run)    $bench run --out "$dir/calls.jsonl" > "$dir/calls.md" ;;
    big)    $bench big --out "$dir/big.jsonl" > "$dir/big.md" ;;
    fanout) $bench fanout --repeats 3 --out "$dir/fanout.jsonl" > "$dir/fanout.md" ;;
    scale)  $bench scale --connections "$scale" --systems ours,ours-no-registry,tungstenite-hand-rolled \
              --out "$dir/scale.jsonl" > "$dir/scale.md" ;;
    cost)   $bench cost --out "$dir/cost.jsonl" > "$dir/cost.md" ;;
    *) echo "unknown part $part" >&2; exit 2 ;;
  esac
done
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg) at $(date -u +%T)" >> "$dir/machine.txt"
for f in "$dir"/*.jsonl; do $bench chart "$f" > /dev/null; done
echo "results in $dir"
