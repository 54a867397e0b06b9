#!/usr/bin/env bash
# Packaging check (CI, never publishes): every published crate passes a
# verified `cargo package` in dependency order (cargo resolves the
# unpublished path dependencies through a temporary local registry), and the
# npm runtime packs into a tarball that installs and imports in a fresh Node
# project.
set -euo pipefail
cd "$(dirname "$0")/.."

# The workspace as cargo sees it, read once.
metadata=$(cargo metadata --format-version 1 --no-deps)
crates=$(python3 -c '
import json, sys
for p in json.load(sys.stdin)["packages"]:
    if p.get("publish") != []:
        print(p["name"])' <<<"$metadata")
args=()
for c in $crates; do args+=(-p "$c"); done
# cargo unpacks the crates of its temporary local registry into the cargo
# home's registry/src and never re-extracts a version it finds there: drop
# what an earlier run left of ours, or verification builds stale sources.
cargo_home=${CARGO_HOME:-$HOME/.cargo}
# Likewise cargo takes a registry crate's build for unchanged (same name and
# version): clean our crates' builds (the workspace ones rebuild in seconds).
for c in $crates; do rm -rf "$cargo_home"/registry/src/*/"$c"-[0-9]*; done
cargo clean -q "${args[@]}"
echo "cargo package ${args[*]}"
cargo package --locked "${args[@]}"

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# A user's axum app outside the workspace, on the packaged crates (the
# unpacked .crate contents that `cargo package` verified), from README's
# dependency lines alone.
target_dir=$(python3 -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])' <<<"$metadata")
version=$(python3 -c 'import json, sys; print(next(p["version"] for p in json.load(sys.stdin)["packages"] if p["name"] == "duplexrpc"))' <<<"$metadata")
cp -r scripts/fresh-app "$work/fresh-app"
{
  cat scripts/fresh-app/Cargo.toml.in
  echo
  echo "[patch.crates-io]"
  for c in $crates; do echo "$c = { path = \"$target_dir/package/$c-$version\" }"; done
} > "$work/fresh-app/Cargo.toml"
rm "$work/fresh-app/Cargo.toml.in"
# The workspace's lockfile as a start, so the app resolves the same
# dependency versions (and reuses their builds in the same target directory).
cp Cargo.lock "$work/fresh-app/"
(cd "$work/fresh-app" && CARGO_TARGET_DIR="$target_dir" cargo run -q)
(cd ts && npm pack --pack-destination "$work" >/dev/null)
tarball=$(ls "$work"/duplexrpc-*.tgz)
mkdir "$work/app"
cd "$work/app"
npm init -y >/dev/null
npm install --no-audit --no-fund "$tarball" >/dev/null
node --input-type=module -e '
import * as rpc from "duplexrpc";
if (typeof rpc.connect !== "function") throw new Error("duplexrpc has no connect export");
console.log("npm package duplexrpc imports:", Object.keys(rpc).sort().join(", "));'
