#!/usr/bin/env bash
# The webhook side by side with its ceiling, with OPA and with Kyverno, in one run: the
# same body, the same client, one server at a time. Prints a Markdown table with the ratios.
#
#   webhook/scripts/side-by-side.sh [SECONDS]        # default: 10 s a run
#
# Body: the AdmissionReview CREATE of a 5-component Application that webhook/examples/load.rs
# posts (`load --print-review --components 5`): each component a gateway and an identity
# trait, so every rule runs, nothing is denied and each gateway trait gets a patch.
# Client: wrk, 1 thread, HTTPS, keep-alive, 64 then 8 connections, 10 s timeout
# (webhook/scripts/review.lua), on the same 2 cores as the server. Any error fails the run.
# Servers, each started alone, checked, warmed for a second, measured, then stopped:
#   ceiling  webhook/examples/ceiling.rs: the webhook's accept loop, TLS and HTTP settings,
#            reading the whole body and answering a fixed review (allowed) with its uid;
#   webhook  oam-traefik-webhook --no-cluster --policy webhook/bench/policy.yaml, its
#            decision log on (to a file) and /metrics served, as in production; the load
#            goes to /mutate, which runs every rule and answers the patch;
#   OPA      `opa run --server` (webhook/bench/opa, built on demand into .cache/bin) with
#            webhook/bench/opa/admission.rego and the same policy file as data, answering
#            the AdmissionReview at POST / (its default decision, data.system.main), with
#            its defaults: no decision log, no line per request (its log to a file);
#   Kyverno  Kyverno v1.19.1's admission controller (webhook/bench/kyverno, built on demand
#            into .cache/bin) with webhook/bench/check/kyverno-policy.yaml, the same rules
#            as a ClusterPolicy (validation only: Kyverno answers no patch), run out of
#            cluster against a real kube-apiserver and etcd on loopback by
#            oam-traefik-kyverno-peer (tests/src/bin/kyverno_peer.rs), its own CA and
#            serving certificate, its metrics on, the load at POST /validate.
# Before the load, each server must answer the body with its uid; the webhook and OPA must
# allow it with the same JSON patch (Kyverno allows it), and all three deny one bad app per
# rule (OT001, OT002, OT003) naming that rule (the webhook at /validate, where it denies).
#
# Environment:
#   BENCH_PEER=0   leave OPA and Kyverno out (no Go builds): the smoke that .ci/run runs.
#   BENCH_KYVERNO=0  leave Kyverno out (its controller is a Go build of many minutes, and
#                  it needs the end-to-end suite's control plane).
#   BENCH_PROFILE  cargo profile of the webhook and the ceiling (default release; the smoke uses dev).
set -euo pipefail

seconds=${1:-10}
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$root"
peer=${BENCH_PEER:-1}
profile=${BENCH_PROFILE:-release}
opa=$root/.cache/bin/opa

if ! command -v wrk >/dev/null; then
  echo "bench: installing wrk (Debian package wrk)" >&2
  { apt-get update -qq && apt-get install -y -qq wrk >/dev/null; } ||
    { echo "bench: wrk is required (Debian package wrk)" >&2; exit 1; }
fi
kyverno=$([[ $peer == 1 && ${BENCH_KYVERNO:-1} == 1 ]] && echo 1 || echo 0)
if [[ $peer == 1 ]]; then
  bash webhook/bench/build.sh opa
fi
if [[ $kyverno == 1 ]]; then
  bash webhook/bench/build.sh kyverno-controller
  bash tests/harness/build.sh >/dev/null
  cargo build --quiet -p oam-traefik-e2e --bin oam-traefik-kyverno-peer
  kyverno_install="$(cd webhook/bench/kyverno && go list -m -f '{{.Dir}}' github.com/kyverno/kyverno)/config/install-latest-testing.yaml"
  [[ -f $kyverno_install ]] || { echo "bench: no $kyverno_install" >&2; exit 1; }
fi
cargo build --quiet --profile "$profile" -p oam-traefik-webhook --bin oam-traefik-webhook \
  --example ceiling --example load
out=target/$([[ $profile == dev ]] && echo debug || echo "$profile")

work=$(mktemp -d)
pid=
peer_pid=
cleanup() {
  [[ -n $pid ]] && kill "$pid" 2>/dev/null
  [[ -n $peer_pid ]] && kill "$peer_pid" 2>/dev/null
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
rss() { awk '/^VmRSS/ {printf "%.1f", $2 / 1024}' "/proc/$1/status"; }
hwm() { awk '/^VmHWM/ {printf "%.1f", $2 / 1024}' "/proc/$1/status"; }
# post URL FILE: the body of the answer to POST FILE (curl trusting what `tls` says).
post() {
  curl -s "${tls[@]}" -H 'Content-Type: application/json' --data-binary "@$2" "$1"
}
# How curl trusts the server: the run's CA; Kyverno serves a certificate of its own CA.
tls=(--cacert "$work/tls/ca.crt")
# Waits until URL answers the good body with HTTP 200, at most 60 s.
wait_for() {
  for _ in $(seq 600); do
    [[ $(curl -s -o /dev/null -w '%{http_code}' "${tls[@]}" \
      -H 'Content-Type: application/json' --data-binary "@$work/good.json" "$1") == 200 ]] && return 0
    kill -0 "$pid" 2>/dev/null || fail "the server at $1 exited"
    sleep 0.1
  done
  fail "$1 never answered the review"
}
# load URL CONNECTIONS SECONDS: one wrk run; sets requests, rate (reviews/s), p50 and p99
# (ms). An answer slower than 10 s (wrk's --timeout) counts as an error.
load() {
  local line errors causes
  line=$(BODY="$work/good.json" wrk -t1 -c"$2" -d"$3s" --timeout 10s -s webhook/scripts/review.lua "$1" |
    grep '^RESULT') || fail "wrk printed no result for $1"
  read -r _ requests rate p50 p99 _ errors causes <<<"$line"
  [[ $errors == 0 ]] ||
    fail "$errors errors of $requests requests to $1 at $2 connections (connect read write timeout status>=400: $causes)"
}
# answer FILE JQ: the value of JQ in the answer FILE (null when absent). Called in $(...),
# where fail cannot stop the script: an answer that is not JSON gives "not JSON".
answer() { jq -c "$2" "$1" 2>/dev/null || echo "not JSON"; }
# check_allowed NAME FILE: the answer FILE echoes the good body's uid and allows it.
check_allowed() {
  [[ $(answer "$2" .response.uid) == '"load"' ]] || fail "$1 answered another uid: $(head -c 300 "$2")"
  [[ $(answer "$2" .response.allowed) == true ]] || fail "$1 did not allow the good app: $(head -c 300 "$2")"
}
# check_patch NAME FILE: the answer FILE patches the good app as the webhook does.
check_patch() {
  [[ $(answer "$2" .response.patchType) == '"JSONPatch"' ]] || fail "$1 answered no JSON patch"
  jq -r .response.patch "$2" | base64 -d | jq -S . >"$work/$1.patch" || fail "$1's patch is not base64 JSON"
  if [[ $1 != webhook ]]; then
    cmp -s "$work/webhook.patch" "$work/$1.patch" ||
      fail "$1's patch differs from the webhook's: $(diff "$work/webhook.patch" "$work/$1.patch")"
  fi
}
# check_denials NAME URL: each bad app is denied, naming its rule.
check_denials() {
  local rule
  for rule in OT001 OT002 OT003; do
    post "$2" "$work/bad-$rule.json" >"$work/$1-$rule.answer"
    [[ $(answer "$work/$1-$rule.answer" .response.allowed) == false ]] ||
      fail "$1 allowed the $rule app: $(head -c 300 "$work/$1-$rule.answer")"
    [[ $(answer "$work/$1-$rule.answer" .response.uid) == "\"bad-$rule\"" ]] || fail "$1 answered another uid"
    [[ $(answer "$work/$1-$rule.answer" .response.status.message) == *"$rule"* ]] ||
      fail "$1 denied the $rule app without naming $rule: $(answer "$work/$1-$rule.answer" .response.status.message)"
  done
}
# measure NAME URL: a second of warm-up, then 64 and 8 connections; sets NAME_{rate,p50,p99}_CONNS
# and NAME_rss; stops the server.
measure() {
  load "$2" 8 1
  local conns
  for conns in 64 8; do
    load "$2" "$conns" "$seconds"
    printf -v "${1}_rate_$conns" %s "$rate"
    printf -v "${1}_p50_$conns" %s "$p50"
    printf -v "${1}_p99_$conns" %s "$p99"
    served=$((served + requests))
  done
  printf -v "${1}_rss" '%s MiB (peak %s MiB)' "$(rss "$pid")" "$(hwm "$pid")"
}
stop() {
  kill "$pid"
  wait "$pid" 2>/dev/null || true
  pid=
}

# A CA and serving certificate for 127.0.0.1, made the way --dev-self-signed makes them;
# all three servers serve the same pair.
"$out/oam-traefik-webhook" --dev-self-signed --listen 127.0.0.1:0 >"$work/dev.log" 2>&1 &
pid=$!
for _ in $(seq 100); do grep -q '"ca":' "$work/dev.log" && break; sleep 0.1; done
dir=$(dirname "$(sed -n 's/.*"ca":"\([^"]*\)".*/\1/p' "$work/dev.log" | head -n1)")
# In a folder of their own, as a mounted Secret is: the webhook watches the folder of its
# certificate for rotations, and the servers' logs, written next to it, would wake its
# watcher on every line (no cluster runs it so).
mkdir -p "$work/tls"
cp "$dir/ca.crt" "$dir/tls.crt" "$dir/tls.key" "$work/tls/" || fail "no certificate from --dev-self-signed"
stop

# The good body, and one bad app per rule (uids bad-OT00N).
"$out/examples/load" --print-review --components 5 >"$work/good.json"
traits='.request.object.spec.components[0].traits'
jq -c ".request.uid = \"bad-OT001\" | $traits |= map(select(.type != \"identity\"))" \
  "$work/good.json" >"$work/bad-OT001.json"
jq -c ".request.uid = \"bad-OT002\" | $traits[1].properties.issuer = \"https://login.example.net/realms/prod\"" \
  "$work/good.json" >"$work/bad-OT002.json"
jq -c ".request.uid = \"bad-OT003\" | $traits[1].properties.scopes = [\"orders:*\"]" \
  "$work/good.json" >"$work/bad-OT003.json"

load_before=$(cut -d' ' -f1-3 /proc/loadavg)
served=0

# The ceiling.
port=$(free_port)
"$out/examples/ceiling" --listen "127.0.0.1:$port" --tls-cert "$work/tls/tls.crt" --tls-key "$work/tls/tls.key" \
  >"$work/ceiling.log" 2>&1 &
pid=$!
url="https://127.0.0.1:$port/mutate"
wait_for "$url"
post "$url" "$work/good.json" >"$work/ceiling.answer"
check_allowed ceiling "$work/ceiling.answer"
measure ceiling "$url"
stop

# The webhook, as production runs it but without a cluster.
port=$(free_port)
mport=$(free_port)
"$out/oam-traefik-webhook" --listen "127.0.0.1:$port" --tls-cert "$work/tls/tls.crt" --tls-key "$work/tls/tls.key" \
  --no-cluster --policy webhook/bench/policy.yaml --metrics-listen "127.0.0.1:$mport" >"$work/webhook.log" 2>&1 &
pid=$!
url="https://127.0.0.1:$port/mutate"
wait_for "$url"
post "$url" "$work/good.json" >"$work/webhook.answer"
check_allowed webhook "$work/webhook.answer"
check_patch webhook "$work/webhook.answer"
check_denials webhook "https://127.0.0.1:$port/validate"
before=$served
measure webhook "$url"
reviewed=$((served - before))
counted=$(curl -s "http://127.0.0.1:$mport/metrics" |
  awk '$1 ~ /^oam_traefik_webhook_admission_requests_total\{/ && $1 ~ /webhook="mutate"/ {n += $2} END {print n + 0}')
stop
lines=$(grep -c '"admission decision"' "$work/webhook.log" || true)
((lines >= reviewed)) || fail "$lines decision lines logged for $reviewed reviews answered"
((counted >= reviewed)) || fail "/metrics counted $counted reviews for $reviewed answered"

# OPA.
if [[ $peer == 1 ]]; then
  port=$(free_port)
  "$opa" run --server --skip-version-check --addr "127.0.0.1:$port" \
    --tls-cert-file "$work/tls/tls.crt" --tls-private-key-file "$work/tls/tls.key" \
    webhook/bench/opa/admission.rego oam_traefik:webhook/bench/policy.yaml >"$work/opa.log" 2>&1 &
  pid=$!
  url="https://127.0.0.1:$port/"
  wait_for "$url"
  post "$url" "$work/good.json" >"$work/opa.answer"
  check_allowed OPA "$work/opa.answer"
  check_patch opa "$work/opa.answer"
  check_denials OPA "$url"
  measure opa "$url"
  stop
fi

# Kyverno, on a control plane of its own, started and stopped by oam-traefik-kyverno-peer.
if [[ $kyverno == 1 ]]; then
  # Its standard input is a pipe the script holds open: when the script ends, the peer stops.
  exec 8> >(target/debug/oam-traefik-kyverno-peer --controller "$root/.cache/bin/kyverno-controller" \
    --install "$kyverno_install" --policy webhook/bench/check/kyverno-policy.yaml \
    >"$work/kyverno-peer.out" 2>"$work/kyverno-peer.log")
  peer_pid=$!
  for _ in $(seq 3000); do
    grep -q '^ready$' "$work/kyverno-peer.out" && break
    kill -0 "$peer_pid" 2>/dev/null || fail "oam-traefik-kyverno-peer exited before Kyverno was ready"
    sleep 0.1
  done
  grep -q '^ready$' "$work/kyverno-peer.out" || fail "Kyverno was not ready within 300 s"
  url=$(sed -n 's/^url //p' "$work/kyverno-peer.out")
  tls=(--insecure)
  # pid: the controller itself (for its RSS), found by the port it serves.
  port=${url#https://127.0.0.1:}
  port=${port%%/*}
  pid=$(pgrep -n -f -- "--webhookServerPort=$port") || fail "no Kyverno process serving port $port"
  wait_for "$url"
  post "$url" "$work/good.json" >"$work/kyverno.answer"
  check_allowed Kyverno "$work/kyverno.answer"
  check_denials Kyverno "$url"
  measure kyverno "$url"
  pid=
  kill "$peer_pid"
  wait "$peer_pid" 2>/dev/null || true
  peer_pid=
  tls=(--cacert "$work/tls/ca.crt")
fi

ratio() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.2fx", a / b}'; }
echo "load average before: $load_before; $seconds s a run; body $(wc -c <"$work/good.json") bytes (5 components); wrk 1 thread"
echo
echo "| connections | server | reviews/s | p50 ms | p99 ms | webhook's reviews/s against it | webhook's p99 against it |"
echo "| --- | --- | --- | --- | --- | --- | --- |"
servers=(ceiling webhook)
[[ $peer == 1 ]] && servers+=(opa)
[[ $kyverno == 1 ]] && servers+=(kyverno)
declare -A label=([ceiling]=ceiling [webhook]=webhook [opa]="OPA v1.22.3" [kyverno]="Kyverno v1.19.1")
for conns in 64 8; do
  w_rate=webhook_rate_$conns w_p99=webhook_p99_$conns
  for server in "${servers[@]}"; do
    rate=${server}_rate_$conns p50=${server}_p50_$conns p99=${server}_p99_$conns
    if [[ $server == webhook ]]; then
      vs_rate=- vs_p99=-
    else
      vs_rate="**$(ratio "${!w_rate}" "${!rate}")**" vs_p99=$(ratio "${!w_p99}" "${!p99}")
    fi
    echo "| $conns | ${label[$server]} | ${!rate} | ${!p50} | ${!p99} | $vs_rate | $vs_p99 |"
  done
done
echo
echo "RSS after each server's runs: ceiling $ceiling_rss, webhook $webhook_rss$(
  [[ $peer == 1 ]] && echo ", OPA $opa_rss")$([[ $kyverno == 1 ]] && echo ", Kyverno $kyverno_rss")"
echo "webhook: $lines decision lines logged and $counted reviews counted by /metrics for $reviewed reviews answered under load"
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
