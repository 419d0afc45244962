#!/bin/sh
# Loopback HTTPS load against the release webhook: 64 keep-alive connections, one review
# in flight each, for SECONDS; prints reviews/s, p50, p99 and the webhook's peak RSS.
#
#   webhook/scripts/loopback-bench.sh [SECONDS] [COMPONENTS] [validate|mutate]
#
# The load tool runs on the same machine: with 2 cores it takes about one of them.
# TOKIO_WORKER_THREADS (default: one per core) sets the webhook's worker threads.
set -eu
seconds=${1:-10}
components=${2:-1}
endpoint=${3:-validate}
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
cargo build --release --quiet -p oam-traefik-webhook --bin oam-traefik-webhook --example load
work=$(mktemp -d)
trap 'kill $dev $pid 2>/dev/null || true; rm -rf "$work"' EXIT
# A CA and serving certificate for 127.0.0.1, made the way --dev-self-signed makes them.
./target/release/oam-traefik-webhook --dev-self-signed --listen 127.0.0.1:0 >"$work/dev.log" 2>&1 &
dev=$!
for _ in $(seq 50); do grep -q '"ca":' "$work/dev.log" && break; sleep 0.1; done
dir=$(dirname "$(sed -n 's/.*"ca":"\([^"]*\)".*/\1/p' "$work/dev.log" | head -1)")
cp "$dir/ca.crt" "$dir/tls.crt" "$dir/tls.key" "$work/"
kill $dev
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
./target/release/oam-traefik-webhook --listen "127.0.0.1:$port" \
  --tls-cert "$work/tls.crt" --tls-key "$work/tls.key" --no-cluster >"$work/webhook.log" 2>&1 &
pid=$!
sleep 0.5
./target/release/examples/load --url "https://127.0.0.1:$port/$endpoint" --ca "$work/ca.crt" \
  --connections 64 --seconds "$seconds" --components "$components" --pid "$pid"
echo "decision lines logged: $(grep -c '"admission decision"' "$work/webhook.log")"
