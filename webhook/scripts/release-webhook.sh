# Sourced by the loopback benchmarks: builds the release webhook and the examples named in
# $bench_examples (a sourced file takes no arguments in POSIX sh),
# then starts the webhook on a free loopback port with a fresh self-signed certificate and
# no cluster. Sets $work (certificates, logs), $pid and $port; cleans up on exit.
#
#   bench_examples="load"; . webhook/scripts/release-webhook.sh
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
examples=""
for e in $bench_examples; do examples="$examples --example $e"; done
# shellcheck disable=SC2086
cargo build --release --quiet -p oam-traefik-webhook --bin oam-traefik-webhook $examples
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
