#!/usr/bin/env bash
# Builds the pinned helm and cue into the cache folder, only when go.mod or go.sum changed.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
bin="${OAM_TRAEFIK_TOOLS_BIN:-$repo/.cache/bin}"
stamp="$bin/.tools.stamp"

mkdir -p "$bin"
want="$(cat "$here/go.mod" "$here/go.sum" | sha256sum | cut -d' ' -f1)"

if [[ -x "$bin/helm" && -x "$bin/cue" && -f "$stamp" && "$(cat "$stamp")" == "$want" ]]; then
  exit 0
fi

# Two builds of the same tools at once would race on the outputs: take a lock.
exec 9>"$bin/.tools.lock"
flock 9
if [[ -x "$bin/helm" && -x "$bin/cue" && -f "$stamp" && "$(cat "$stamp")" == "$want" ]]; then
  exit 0
fi

cd "$here"
export GOFLAGS="${GOFLAGS:--buildvcs=false}"
# Build with -p 2: the machine is shared; the Go build cache makes a rebuild cheap.
start=$SECONDS
go build -p 2 -trimpath -ldflags='-s -w' -o "$bin/helm.tmp" helm.sh/helm/v3/cmd/helm
go build -p 2 -trimpath -ldflags='-s -w' -o "$bin/cue.tmp" cuelang.org/go/cmd/cue
mv -f "$bin/helm.tmp" "$bin/helm"
mv -f "$bin/cue.tmp" "$bin/cue"
echo "$want" >"$stamp"
echo "tools: built helm and cue into $bin in $((SECONDS - start))s" >&2
