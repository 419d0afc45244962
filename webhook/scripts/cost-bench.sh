#!/bin/sh
# The cost of reviews with many middleware references (4,000 and 40,000 by default), two
# in flight at once, and the latency of /healthz while they run, against the release webhook.
#
#   webhook/scripts/cost-bench.sh [REFS] [ROUNDS]      # REFS: comma-separated, e.g. 4000,40000
set -eu
refs=${1:-4000,40000}
rounds=${2:-9}
bench_examples=cost
. "$(dirname "$0")/release-webhook.sh"
./target/release/examples/cost --url "https://127.0.0.1:$port" --ca "$work/ca.crt" \
  --refs "$refs" --rounds "$rounds"
