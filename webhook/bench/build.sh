#!/usr/bin/env bash
# Builds one peer of the webhook's benchmarks, pinned by the go.mod/go.sum of its folder
# here, from the Go module proxy into <repo>/.cache/bin (git-ignored), only when that
# go.mod, go.sum or this script changed (a hash stamp): a warm run costs milliseconds.
# Not part of cargo test or .ci/run: the benchmark scripts call it on demand.
#
#   webhook/bench/build.sh opa       # Open Policy Agent (webhook/scripts/side-by-side.sh)
#   webhook/bench/build.sh kyverno   # the Kyverno CLI (webhook/scripts/check-side-by-side.sh)
#   webhook/bench/build.sh kyverno-controller   # Kyverno's admission controller (side-by-side.sh)
#   webhook/bench/build.sh gator     # Gatekeeper's gator CLI (the same)
#
# OAM_TRAEFIK_TOOLS_BIN overrides the output folder.
set -euo pipefail

tool=${1:?usage: webhook/bench/build.sh opa|kyverno|kyverno-controller|gator}
case $tool in
  opa) module=opa package=github.com/open-policy-agent/opa ;;
  kyverno) module=kyverno package=github.com/kyverno/kyverno/cmd/cli/kubectl-kyverno ;;
  kyverno-controller) module=kyverno package=github.com/kyverno/kyverno/cmd/kyverno ;;
  gator) module=gatekeeper package=github.com/open-policy-agent/gatekeeper/v3/cmd/gator ;;
  *) echo "webhook/bench/build.sh: unknown tool '$tool' (opa, kyverno, kyverno-controller or gator)" >&2; exit 2 ;;
esac

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
bin="${OAM_TRAEFIK_TOOLS_BIN:-$repo/.cache/bin}"
stamp="$bin/$tool.stamp"

mkdir -p "$bin"
want="$(cat "$here/$module/go.mod" "$here/$module/go.sum" "$here/build.sh" | sha256sum | cut -d' ' -f1)"
built() { [[ -x "$bin/$tool" && -f "$stamp" && "$(cat "$stamp")" == "$want" ]]; }

if built; then
  exit 0
fi

# Two builds at once would race on the output: take a lock.
exec 9>"$bin/$tool.lock"
flock 9
if built; then
  exit 0
fi

cd "$here/$module"
export GOFLAGS="${GOFLAGS:--buildvcs=false}"
start=$SECONDS
echo "$tool: building $package (cold: minutes; Kyverno's CLI is the largest, about 15 on 2 cores)" >&2
# -p 2: the machine is shared; the Go build cache makes a rebuild cheap. CGO_ENABLED=0 as
# the upstream Makefiles build them (for OPA: without its opa_wasm tag, the cgo Wasm engine
# the benchmark does not use; OPA's own Rego interpreter answers).
CGO_ENABLED=0 go build -p 2 -trimpath -ldflags='-s -w' -o "$bin/$tool.tmp" "$package"
mv -f "$bin/$tool.tmp" "$bin/$tool"
echo "$want" >"$stamp"
echo "$tool: built $(go list -m -f '{{.Path}} {{.Version}}' "${package%%/cmd/*}") into $bin in $((SECONDS - start))s" >&2
