#!/usr/bin/env bash
# Builds the oauth2-proxy pinned in go.mod/go.sum (the verifier benchmark's peer) into
# <repo>/.cache/bin (git-ignored), only when go.mod, go.sum or this script changed (a hash
# stamp): a warm run costs milliseconds, a cold machine builds from the Go module proxy.
# Not part of cargo test or .ci/run: auth/scripts/bench.sh calls it on demand.
# OAM_TRAEFIK_TOOLS_BIN overrides the output folder.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../../.." && pwd)"
bin="${OAM_TRAEFIK_TOOLS_BIN:-$repo/.cache/bin}"
stamp="$bin/oauth2-proxy.stamp"

mkdir -p "$bin"
want="$(cat "$here/go.mod" "$here/go.sum" "$here/build.sh" | sha256sum | cut -d' ' -f1)"
built() { [[ -x "$bin/oauth2-proxy" && -f "$stamp" && "$(cat "$stamp")" == "$want" ]]; }

if built; then
  exit 0
fi

# Two builds at once would race on the output: take a lock.
exec 9>"$bin/oauth2-proxy.lock"
flock 9
if built; then
  exit 0
fi

cd "$here"
export GOFLAGS="${GOFLAGS:--buildvcs=false}"
start=$SECONDS
# -p 2: the machine is shared; the Go build cache makes a rebuild cheap. The version stamp
# and CGO_ENABLED=0 are what upstream's Makefile sets.
version="$(go list -m -f '{{.Version}}' github.com/oauth2-proxy/oauth2-proxy/v7)"
CGO_ENABLED=0 go build -p 2 -trimpath \
  -ldflags="-s -w -X github.com/oauth2-proxy/oauth2-proxy/v7/pkg/version.VERSION=$version" \
  -o "$bin/oauth2-proxy.tmp" github.com/oauth2-proxy/oauth2-proxy/v7
mv -f "$bin/oauth2-proxy.tmp" "$bin/oauth2-proxy"
echo "$want" >"$stamp"
echo "oauth2-proxy: built $version into $bin in $((SECONDS - start))s" >&2
