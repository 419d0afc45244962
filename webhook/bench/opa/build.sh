#!/usr/bin/env bash
# Builds the Open Policy Agent pinned in go.mod/go.sum (the peer of the webhook's
# side-by-side benchmark) into <repo>/.cache/bin (git-ignored), only when go.mod, go.sum or
# this script changed (a hash stamp): a warm run costs milliseconds, a cold machine builds
# from the Go module proxy. Not part of cargo test or .ci/run:
# webhook/scripts/side-by-side.sh calls it on demand.
# OAM_TRAEFIK_TOOLS_BIN overrides the output folder.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../../.." && pwd)"
bin="${OAM_TRAEFIK_TOOLS_BIN:-$repo/.cache/bin}"
stamp="$bin/opa.stamp"

mkdir -p "$bin"
want="$(cat "$here/go.mod" "$here/go.sum" "$here/build.sh" | sha256sum | cut -d' ' -f1)"
built() { [[ -x "$bin/opa" && -f "$stamp" && "$(cat "$stamp")" == "$want" ]]; }

if built; then
  exit 0
fi

# Two builds at once would race on the output: take a lock.
exec 9>"$bin/opa.lock"
flock 9
if built; then
  exit 0
fi

cd "$here"
export GOFLAGS="${GOFLAGS:--buildvcs=false}"
start=$SECONDS
# -p 2: the machine is shared; the Go build cache makes a rebuild cheap. CGO_ENABLED=0 as
# upstream's Makefile builds it; without its opa_wasm tag (the Wasm engine is cgo), which
# the benchmark does not use: OPA's own Rego interpreter answers.
CGO_ENABLED=0 go build -p 2 -trimpath -ldflags='-s -w' -o "$bin/opa.tmp" github.com/open-policy-agent/opa
mv -f "$bin/opa.tmp" "$bin/opa"
echo "$want" >"$stamp"
echo "opa: built $(go list -m -f '{{.Version}}' github.com/open-policy-agent/opa) into $bin in $((SECONDS - start))s" >&2
