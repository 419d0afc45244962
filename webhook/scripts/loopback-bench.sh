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
bench_examples=load
. "$(dirname "$0")/release-webhook.sh"
./target/release/examples/load --url "https://127.0.0.1:$port/$endpoint" --ca "$work/ca.crt" \
  --connections 64 --seconds "$seconds" --components "$components" --pid "$pid"
echo "decision lines logged: $(grep -c '"admission decision"' "$work/webhook.log")"
