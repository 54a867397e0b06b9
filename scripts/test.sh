#!/usr/bin/env bash
# The test command (README): every test of the project.
# On a fresh machine it first installs what the tests need and is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

# --- Rust: unit, integration, compile-fail, doc tests --------------------------
cargo test --workspace
