#!/usr/bin/env bash
# Builds the real helm and cue pinned in go.mod/go.sum, and as cue-kubevela the older cue
# that KubeVela evaluates definitions with (kubevela-cue/go.mod), into <repo>/.cache/bin
# (git-ignored), only when a go.mod, go.sum or this script changed (a hash stamp): a warm run costs
# milliseconds, a cold machine builds from the Go module proxy.
# OAM_TRAEFIK_TOOLS_BIN overrides the output folder.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
bin="${OAM_TRAEFIK_TOOLS_BIN:-$repo/.cache/bin}"
stamp="$bin/tools.stamp"

mkdir -p "$bin"
want="$(cat "$here/go.mod" "$here/go.sum" "$here/kubevela-cue/go.mod" "$here/kubevela-cue/go.sum" \
  "$here/build.sh" | sha256sum | cut -d' ' -f1)"
built() { [[ -x "$bin/helm" && -x "$bin/cue" && -x "$bin/cue-kubevela" && -f "$stamp" && "$(cat "$stamp")" == "$want" ]]; }

if built; then
  exit 0
fi

# Two builds of the same tools at once would race on the outputs: take a lock.
exec 9>"$bin/tools.lock"
flock 9
if built; then
  exit 0
fi

cd "$here"
export GOFLAGS="${GOFLAGS:--buildvcs=false}"
# Build with -p 2: the machine is shared; the Go build cache makes a rebuild cheap.
start=$SECONDS
# The version stamps upstream's Makefile sets: helm's own, and the Kubernetes version that
# `helm template` assumes and `helm lint` checks deprecated APIs against (its client-go's).
helm_version="$(go list -m -f '{{.Version}}' helm.sh/helm/v3)"
k8s_minor="$(go list -m -f '{{.Version}}' k8s.io/client-go | cut -d. -f2)"
helm_ldflags="-s -w -X helm.sh/helm/v3/internal/version.version=$helm_version"
for pkg in pkg/chartutil pkg/lint/rules; do
  helm_ldflags+=" -X helm.sh/helm/v3/$pkg.k8sVersionMajor=1 -X helm.sh/helm/v3/$pkg.k8sVersionMinor=$k8s_minor"
done
go build -p 2 -trimpath -ldflags="$helm_ldflags" -o "$bin/helm.tmp" helm.sh/helm/v3/cmd/helm
go build -p 2 -trimpath -ldflags='-s -w' -o "$bin/cue.tmp" cuelang.org/go/cmd/cue
(cd kubevela-cue && go build -p 2 -trimpath -ldflags='-s -w' -o "$bin/cue-kubevela.tmp" cuelang.org/go/cmd/cue)
mv -f "$bin/helm.tmp" "$bin/helm"
mv -f "$bin/cue.tmp" "$bin/cue"
mv -f "$bin/cue-kubevela.tmp" "$bin/cue-kubevela"
echo "$want" >"$stamp"
echo "tools: built helm, cue and cue-kubevela into $bin in $((SECONDS - start))s" >&2
