#!/usr/bin/env bash
# Three chat nodes (examples/src/cluster/), one Redis and Caddy in front, on
# this machine, in one command:
#
#   examples/cluster/run.sh
#
# Clients connect to Caddy (ws://127.0.0.1:8080/ by default), which spreads
# them over the nodes round robin; a broadcast said on any node reaches the
# clients of every node. Try, in other terminals:
#
#   node --experimental-websocket examples/cluster/node-client.mjs ws://127.0.0.1:8080/ alice lobby
#
# (Node 22+ needs no flag.) Kill one node (its pid is printed) and watch its
# clients reconnect through Caddy to the others. Ctrl-C stops everything.
#
# Needs redis-server and caddy (Debian: apt-get install redis-server caddy).
# Ports: CADDY_PORT (8080), REDIS_PORT (6380), NODE_PORTS ("9001 9002 9003").
set -euo pipefail
cd "$(dirname "$0")/../.."

caddy_port=${CADDY_PORT:-8080}
redis_port=${REDIS_PORT:-6380}
read -r -a node_ports <<<"${NODE_PORTS:-9001 9002 9003}"

for tool in redis-server caddy; do
  command -v "$tool" >/dev/null || {
    echo "run.sh: $tool is missing (Debian: apt-get install redis-server caddy)" >&2
    exit 1
  }
done

cargo build --release -q -p examples --bin cluster-node
node_exe=target/release/cluster-node

work=$(mktemp -d)
pids=()
stop() {
  trap - EXIT INT TERM
  echo "stopping ${pids[*]:-}"
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap stop EXIT INT TERM

redis-server --port "$redis_port" --bind 127.0.0.1 --save "" --appendonly no --dir "$work" \
  >"$work/redis.log" 2>&1 &
pids+=($!)
for _ in $(seq 50); do (exec 3<>"/dev/tcp/127.0.0.1/$redis_port") 2>/dev/null && break; sleep 0.1; done
echo "redis     pid ${pids[-1]}  redis://127.0.0.1:$redis_port/"

upstreams=()
for i in "${!node_ports[@]}"; do
  port=${node_ports[$i]}
  "$node_exe" --listen "127.0.0.1:$port" --redis "redis://127.0.0.1:$redis_port/" --name "node-$((i + 1))" \
    >"$work/node-$((i + 1)).out" 2>"$work/node-$((i + 1)).log" &
  pids+=($!)
  upstreams+=("127.0.0.1:$port")
  for _ in $(seq 100); do [ -s "$work/node-$((i + 1)).out" ] && break; sleep 0.05; done
  echo "node-$((i + 1))    pid ${pids[-1]}  $(cat "$work/node-$((i + 1)).out")"
done

cat >"$work/Caddyfile" <<EOF
{
	admin off
	auto_https off
}

http://127.0.0.1:$caddy_port {
	bind 127.0.0.1
	reverse_proxy ${upstreams[*]} {
		lb_policy round_robin
		lb_try_duration 5s
		lb_try_interval 100ms
	}
}
EOF
HOME=$work XDG_CONFIG_HOME=$work/config XDG_DATA_HOME=$work/data \
  caddy run --adapter caddyfile --config "$work/Caddyfile" >"$work/caddy.log" 2>&1 &
pids+=($!)
for _ in $(seq 100); do (exec 3<>"/dev/tcp/127.0.0.1/$caddy_port") 2>/dev/null && break; sleep 0.1; done
echo "caddy     pid ${pids[-1]}  ws://127.0.0.1:$caddy_port/  (clients connect here)"
echo "logs in $work; Ctrl-C stops everything"
wait
