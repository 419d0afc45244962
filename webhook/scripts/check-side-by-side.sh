#!/usr/bin/env bash
# `kubectl oam-traefik check` side by side with the CLIs users run in CI, `kyverno apply`
# (Kyverno) and `gator test` (Gatekeeper), on the same files, each with the equivalent
# policy, one run after the other. Prints a Markdown table with the ratios.
#
#   webhook/scripts/check-side-by-side.sh [RUNS]      # default: 3 runs of each tool
#
# Input: webhook/bench/check/generate.py writes 2,000 Applications (2 components, each a
# gateway and an identity trait), 10,000 routes (Ingress of class traefik, IngressRoute,
# HTTPRoute to a traefik Gateway, a third each), 5,000 forwardAuth Middlewares and 100
# Gateways, into one block-style YAML file per namespace (100 namespaces). One object in a
# hundred or so breaks exactly one rule (OT001, OT002, OT003 or OT006); the generator
# writes how many, and before anything is timed each tool must find exactly those objects
# failing, rule by rule (a tool that finds something else fails the run).
# Tools, each given the whole folder:
#   check    kubectl-oam_traefik check -f DIR --policy webhook/bench/policy.yaml -o json
#            (release build): every rule, references resolved among the files;
#   kyverno  kyverno apply webhook/bench/check/kyverno-policy.yaml --resource DIR
#            (Kyverno CLI, webhook/bench/kyverno, built on demand into .cache/bin);
#   gator    gator test -f DIR -f webhook/bench/check/gatekeeper.yaml -o json
#            (webhook/bench/gatekeeper, built on demand into .cache/bin).
# Each run's wall time and peak RSS come from /usr/bin/time; the table shows the median.
#
# Environment:
#   BENCH_PEER=0   leave Kyverno and gator out (no Go builds): check alone, with its checks.
#   BENCH_PROFILE  cargo profile of kubectl-oam_traefik (default release).
#   BENCH_APPS, BENCH_ROUTES, BENCH_MIDDLEWARES  the input's size (default 2000, 10000, 5000).
set -euo pipefail

runs=${1:-3}
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$root"
peer=${BENCH_PEER:-1}
profile=${BENCH_PROFILE:-release}
bin=$root/.cache/bin

[[ -x /usr/bin/time ]] || { apt-get update -qq && apt-get install -y -qq time >/dev/null; } ||
  { echo "bench: /usr/bin/time is required (Debian package time)" >&2; exit 1; }
if [[ $peer == 1 ]]; then
  bash webhook/bench/build.sh kyverno
  bash webhook/bench/build.sh gator
fi
cargo build --quiet --profile "$profile" -p kubectl-oam-traefik --bin kubectl-oam_traefik
check=$root/target/$([[ $profile == dev ]] && echo debug || echo "$profile")/kubectl-oam_traefik

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
fail() { echo "bench: $*" >&2; exit 1; }

python3 webhook/bench/check/generate.py "$work/manifests" --apps "${BENCH_APPS:-2000}" \
  --routes "${BENCH_ROUTES:-10000}" --middlewares "${BENCH_MIDDLEWARES:-5000}"
expected=$(jq -r '.failing | to_entries | sort_by(.key) | map("\(.key)=\(.value)") | join(" ")' "$work/expected.json")
objects=$(jq '.applications + .routes + .middlewares + .gateways' "$work/expected.json")
bytes=$(du -sb "$work/manifests" | cut -f1)

# The commands, by tool. Each writes its report to $work/TOOL.out; the exit status says
# "violations found" (1 for all three), which is what they must say here.
cmd_check=("$check" check -f "$work/manifests" --policy webhook/bench/policy.yaml -o json)
cmd_kyverno=("$bin/kyverno" apply webhook/bench/check/kyverno-policy.yaml --resource "$work/manifests"
  --policy-report --output-format json)
cmd_gator=("$bin/gator" test -f "$work/manifests" -f webhook/bench/check/gatekeeper.yaml -o json)

# failing TOOL: "OT001=N OT002=N ..." from TOOL's report: the objects that failed, by rule.
failing() {
  case $1 in
    check)
      jq -r '[.findings[] | select(.level == "deny") | {rule, o: "\(.object.kind)/\(.object.namespace)/\(.object.name)"}]
        | unique | group_by(.rule) | map("\(.[0].rule)=\(length)") | join(" ")' "$work/check.out" ;;
    kyverno)
      # Kyverno prints a deprecation warning on stdout before the report.
      grep '^{' "$work/kyverno.out" | jq -r '[.. | objects | select(has("results")) | .results[]? | select(.result == "fail")
        | {rule: (.rule | capture("^(?<id>ot[0-9]+)").id | ascii_upcase), o: (.resources[0] | "\(.kind)/\(.namespace)/\(.name)")}]
        | unique | group_by(.rule) | map("\(.[0].rule)=\(length)") | join(" ")' ;;
    gator)
      jq -r '[.[] | {rule: (.msg | capture("^(?<id>OT[0-9]+)").id), o: (.violatingObject | "\(.kind)/\(.metadata.namespace)/\(.metadata.name)")}]
        | unique | group_by(.rule) | map("\(.[0].rule)=\(length)") | join(" ")' "$work/gator.out" ;;
  esac
}

# run TOOL: one run; appends "seconds peak_kib" to $work/TOOL.times.
run() {
  local -n cmd="cmd_$1"
  local status=0
  /usr/bin/time -f '%e %M' -o "$work/$1.time" "${cmd[@]}" >"$work/$1.out" 2>"$work/$1.err" || status=$?
  [[ $status == 1 ]] || fail "$1 exited $status, not 1 (violations found): $(tail -c 600 "$work/$1.err")"
  # The last line: /usr/bin/time first says "Command exited with non-zero status 1".
  tail -n 1 "$work/$1.time" >>"$work/$1.times"
}

tools=(check)
[[ $peer == 1 ]] && tools+=(kyverno gator)
load_before=$(cut -d' ' -f1-3 /proc/loadavg)
for tool in "${tools[@]}"; do
  run "$tool"
  found=$(failing "$tool")
  [[ $found == "$expected" ]] || fail "$tool found $found, the input has $expected failing objects"
  : >"$work/$tool.times"
done
# The timed runs, alternating tools so that a change in the machine's load touches all.
for _ in $(seq "$runs"); do
  for tool in "${tools[@]}"; do run "$tool"; done
done

median() { sort -n | awk '{v[NR] = $1} END {print v[int((NR + 1) / 2)]}'; }
for tool in "${tools[@]}"; do
  printf -v "${tool}_s" %s "$(cut -d' ' -f1 "$work/$tool.times" | median)"
  printf -v "${tool}_mib" %s "$(cut -d' ' -f2 "$work/$tool.times" | median | awk '{printf "%.0f", $1 / 1024}')"
done
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.1fx", a / b}'; }

echo "load average before: $load_before; $runs timed run(s) of each tool (median shown), alternating"
echo "input: $objects objects in 100 files, $((bytes / 1024)) KiB of YAML; failing objects by rule: $expected (every tool found exactly these)"
echo
echo "| tool | seconds | peak RSS MiB | time against check |"
echo "| --- | --- | --- | --- |"
echo "| kubectl oam-traefik check | $check_s | $check_mib | 1.0x |"
if [[ $peer == 1 ]]; then
  echo "| kyverno apply ($("$bin/kyverno" version 2>/dev/null | awk '/^Version/ {print $2}')) | $kyverno_s | $kyverno_mib | $(ratio "$kyverno_s" "$check_s") |"
  echo "| gator test | $gator_s | $gator_mib | $(ratio "$gator_s" "$check_s") |"
fi
echo
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
