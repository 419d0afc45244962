#!/usr/bin/env bash
# The verifier's benchmark, side by side in one run: oam-traefik-auth (release) and
# oauth2-proxy (auth/bench/oauth2-proxy, built on demand into .cache/bin) verify the same
# bearer tokens against the same OpenID issuer (auth/examples/bench_issuer.rs: discovery
# and JWKS over HTTPS on loopback, its own CA given to both). Then, when Traefik is there,
# the latency the forwardAuth Middleware adds to a route. Prints Markdown tables.
#
#   auth/scripts/bench.sh [SECONDS] [MANY]     # defaults: 10 s a run, 3000 tokens
#
# Load: wrk, 1 thread, 64 and 8 keep-alive connections, on the same 2 cores as the servers.
# Cache hit: one token, sent again and again. Cache miss: MANY distinct valid tokens, round
# robin, against a verifier cache of MANY/3 entries (--token-cache-size), so a token has left
# the cache when it comes back; the hit and miss counts from /metrics are printed to prove it.
# (The chart's cache holds 10,000: missing it for real would take 30,000 RS256 tokens,
# minutes of RSA signing here. The miss path is the same code at either size.) Both servers keep their default
# logging (the verifier's decision line, oauth2-proxy's request and auth lines, to files)
# and the verifier its metrics.
#
# Environment:
#   TRAEFIK_BIN    Traefik binary (default .cache/bin/traefik, from tests/tools/build.sh);
#                  the Traefik runs are left out when it is missing.
#   BENCH_PEER=0   leave oauth2-proxy out (no Go build): the smoke that .ci/run runs.
#   BENCH_PROFILE  cargo profile of the verifier (default release; the smoke uses dev).
set -euo pipefail

seconds=${1:-10}
many=${2:-3000}
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$root"
peer=${BENCH_PEER:-1}
profile=${BENCH_PROFILE:-release}
traefik=${TRAEFIK_BIN:-$root/.cache/bin/traefik}

command -v wrk >/dev/null || { echo "bench: wrk is required (Debian package wrk)" >&2; exit 1; }
if [[ $peer == 1 ]]; then
  bash auth/bench/oauth2-proxy/build.sh
fi
cargo build --quiet --profile "$profile" -p oam-traefik-auth --bin oam-traefik-auth --example bench_issuer
out=target/$([[ $profile == dev ]] && echo debug || echo "$profile")

work=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
fail() {
  echo "bench: $*" >&2
  for log in "$work"/*.log; do echo "--- $log" >&2; tail -n 20 "$log" >&2; done
  exit 1
}
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
# Waits until URL answers STATUS (curl trusting the issuer's CA), at most 60 s.
wait_for() {
  for _ in $(seq 600); do
    [[ $(curl -s -o /dev/null -w '%{http_code}' --cacert "$work/ca.crt" "$1") == "$2" ]] && return 0
    sleep 0.1
  done
  fail "$1 never answered $2"
}
# status URL TOKEN: the status of GET URL with TOKEN as the bearer token ("" for none).
status() {
  local auth=()
  [[ -n $2 ]] && auth=(-H "Authorization: Bearer $2")
  curl -s -o /dev/null -w '%{http_code}' "${auth[@]}" "$1"
}
rss() { awk '/^VmRSS/ {printf "%.1f", $2 / 1024}' "/proc/$1/status"; }
hwm() { awk '/^VmHWM/ {printf "%.1f", $2 / 1024}' "/proc/$1/status"; }
cache_lookups() {
  curl -s "http://127.0.0.1:$vport/metrics" |
    awk -v r="$1" '$1 ~ /^oam_traefik_auth_token_cache_lookups_total/ && $1 ~ "\"" r "\"" {n = $2}
      END {print n + 0}'
}
# load URL TOKENS CONNECTIONS: one wrk run; sets requests, rate (req/s), p50 and p99 (ms).
load() {
  local line errors
  line=$(TOKENS="$2" wrk -t1 -c"$3" -d"${seconds}s" -s auth/scripts/bearer.lua "$1" | grep '^RESULT') ||
    fail "wrk printed no result for $1"
  read -r _ requests rate p50 p99 _ errors <<<"$line"
  [[ $errors == 0 ]] || fail "$errors errors (or answers >= 400) of $requests requests to $1"
}

# The issuer, its tokens and the policy.
"$out/examples/bench_issuer" "$work" "$many" >"$work/issuer.log" 2>&1 &
pids+=($!)
for _ in $(seq 6000); do [[ -f $work/ready ]] && break; sleep 0.1; done
[[ -f $work/ready ]] || fail "the issuer did not start"
issuer=$(cat "$work/issuer")

# The verifier, as the chart runs it (decision log on, metrics on the same listener).
vport=$(free_port)
"$out/oam-traefik-auth" --listen "127.0.0.1:$vport" --policy "$work/policy.yaml" \
  --ca-file "$work/ca.crt" --token-cache-size $((many / 3)) >"$work/verifier.log" 2>&1 &
vpid=$!
pids+=($vpid)
wait_for "http://127.0.0.1:$vport/readyz" 200
verify_url="http://127.0.0.1:$vport/verify?$(cat "$work/verify-query")"

# oauth2-proxy: its OIDC provider is the same issuer with the audience as client id; bearer
# tokens are verified (--skip-jwt-bearer-tokens) on /oauth2/auth, which answers 202.
if [[ $peer == 1 ]]; then
  oport=$(free_port)
  .cache/bin/oauth2-proxy --http-address "127.0.0.1:$oport" \
    --provider oidc --oidc-issuer-url "$issuer" --provider-ca-file "$work/ca.crt" \
    --client-id orders --client-secret bench --redirect-url "http://127.0.0.1:$oport/oauth2/callback" \
    --cookie-secret "$(head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n')" \
    --email-domain '*' --allowed-group team-orders --upstream static://202 \
    --skip-jwt-bearer-tokens \
    >"$work/oauth2-proxy.log" 2>&1 &
  opid=$!
  pids+=($opid)
  wait_for "http://127.0.0.1:$oport/ping" 200
  proxy_url="http://127.0.0.1:$oport/oauth2/auth"
fi

# Both really verify: a valid token passes, none or a forged signature does not.
for alg in es256 rs256; do
  good=$(head -n1 "$work/$alg.one")
  forged="${good%.*}.$(head -n1 "$work/$alg.many" | sed 's/.*\.//')"
  [[ $(status "$verify_url" "$good") == 200 ]] || fail "the verifier refused a valid $alg token"
  [[ $(status "$verify_url" "") == 401 ]] || fail "the verifier let a request without a token through"
  [[ $(status "$verify_url" "$forged") == 401 ]] || fail "the verifier took a forged $alg token"
  if [[ $peer == 1 ]]; then
    [[ $(status "$proxy_url" "$good") == 202 ]] || fail "oauth2-proxy refused a valid $alg token"
    [[ $(status "$proxy_url" "") == 401 ]] || fail "oauth2-proxy let a request without a token through"
    [[ $(status "$proxy_url" "$forged") == 401 ]] || fail "oauth2-proxy took a forged $alg token"
  fi
done

echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg); $seconds s a run; $many tokens in the miss runs"
echo
echo "| token | cache | connections | verifier req/s | p50 ms | p99 ms | cache hits/misses | oauth2-proxy req/s | p50 ms | p99 ms | req/s ratio |"
echo "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"
verified=0
for alg in es256 rs256; do
  for cache in hit miss; do
    tokens="$work/$alg.one"
    [[ $cache == miss ]] && tokens="$work/$alg.many"
    for conns in 64 8; do
      hits=$(cache_lookups hit) misses=$(cache_lookups miss)
      load "$verify_url" "$tokens" "$conns"
      vrate=$rate vp50=$p50 vp99=$p99 verified=$((verified + requests))
      hits=$(($(cache_lookups hit) - hits)) misses=$(($(cache_lookups miss) - misses))
      orate=- op50=- op99=- ratio=-
      if [[ $peer == 1 ]]; then
        load "$proxy_url" "$tokens" "$conns"
        orate=$rate op50=$p50 op99=$p99
        ratio=$(awk -v a="$vrate" -v b="$orate" 'BEGIN {printf "%.1fx", a / b}')
      fi
      echo "| ${alg^^} | $cache | $conns | $vrate | $vp50 | $vp99 | $hits/$misses | $orate | $op50 | $op99 | $ratio |"
    done
  done
done
echo
echo "RSS after the runs: verifier $(rss "$vpid") MiB (peak $(hwm "$vpid") MiB)$(
  [[ $peer == 1 ]] && echo ", oauth2-proxy $(rss "$opid") MiB (peak $(hwm "$opid") MiB)")"
lines=$(grep -c '"msg":"decision"' "$work/verifier.log" || true)
((lines >= verified)) || fail "$lines decision lines logged for $verified verify requests answered"
echo "verifier decision lines logged: $lines (for $verified verify requests answered under load)"

# Traefik: the same backend behind two routes, one with the identity Middleware as the
# chart's TraitDefinition writes it (forwardAuth to the verifier, the rule in its query).
if [[ -x $traefik ]]; then
  tport=$(free_port)
  cat >"$work/dynamic.yaml" <<EOF
http:
  routers:
    plain:
      rule: "PathPrefix(\`/plain\`)"
      service: backend
    guarded:
      rule: "PathPrefix(\`/guarded\`)"
      service: backend
      middlewares: [identity]
  middlewares:
    identity:
      forwardAuth:
        address: "$verify_url"
        trustForwardHeader: false
        authResponseHeaders: [X-Forwarded-User, X-Forwarded-Email, X-Forwarded-Groups]
  services:
    backend:
      loadBalancer:
        servers: [{url: "http://$(cat "$work/backend")"}]
EOF
  "$traefik" --entryPoints.web.address="127.0.0.1:$tport" \
    --providers.file.filename="$work/dynamic.yaml" --log.level=ERROR >"$work/traefik.log" 2>&1 &
  tpid=$!
  pids+=($tpid)
  token=$(head -n1 "$work/es256.one")
  wait_for "http://127.0.0.1:$tport/plain" 200
  [[ $(status "http://127.0.0.1:$tport/guarded" "") == 401 ]] || fail "Traefik let /guarded through without a token"
  # Not `curl | grep -q`: under pipefail, grep leaving early can fail curl with SIGPIPE.
  seen=$(curl -sf -H "Authorization: Bearer $token" "http://127.0.0.1:$tport/guarded") || seen=
  [[ $seen == *'user bench-0'* ]] || fail "the backend behind /guarded did not see X-Forwarded-User"
  echo
  echo "Traefik $("$traefik" version 2>/dev/null | awk '/^Version/ {print $2}'), ES256 token (verifier cache hit), load average $(cut -d' ' -f1-3 /proc/loadavg)"
  echo
  echo "| connections | route | req/s | p50 ms | p99 ms |"
  echo "| --- | --- | --- | --- | --- |"
  for conns in 64 8; do
    for route in plain guarded; do
      load "http://127.0.0.1:$tport/$route" "$work/es256.one" "$conns"
      echo "| $conns | /$route$([[ $route == guarded ]] && echo ' (forwardAuth)') | $rate | $p50 | $p99 |"
    done
  done
else
  echo
  echo "no Traefik at $traefik (TRAEFIK_BIN): the Traefik runs are left out"
fi
echo
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
