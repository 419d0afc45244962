#!/usr/bin/env bash
# Builds the real kube-apiserver and etcd that the end-to-end suite runs, at the
# versions pinned in go.mod/go.sum, into <repo>/.cache/bin (git-ignored).
#
# A stamp holds the hash of go.mod, go.sum and this script: while it matches and both
# binaries are there, nothing is built, so a warm run costs milliseconds and a cold
# machine builds from the Go module proxy. `--force` rebuilds anyway.
# OAM_TRAEFIK_HARNESS_BIN overrides the output folder.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
bin="${OAM_TRAEFIK_HARNESS_BIN:-$root/.cache/bin}"
stamp="$bin/harness.stamp"
force=0
[[ "${1:-}" == "--force" ]] && force=1

mkdir -p "$bin"
# Test binaries may call this at the same time: one builds, the others wait for it.
exec 9>"$bin/harness.lock"
flock 9

want="$(cat "$here/go.mod" "$here/go.sum" "$here/build.sh" | sha256sum | cut -d' ' -f1)"

print_versions() {
  echo "harness: binaries in $bin"
  "$bin/kube-apiserver" --version
  # Not `| head -n 1`: under pipefail, etcd's SIGPIPE would fail the script.
  local etcd_version
  etcd_version="$("$bin/etcd" --version)"
  echo "${etcd_version%%$'\n'*}"
}

if [[ $force == 0 && -x "$bin/kube-apiserver" && -x "$bin/etcd" && -f "$stamp" && "$(cat "$stamp")" == "$want" ]]; then
  print_versions
  exit 0
fi

cd "$here"
export GOFLAGS="${GOFLAGS:--buildvcs=false}"
start=$SECONDS
kver="$(go list -m -f '{{.Version}}' k8s.io/kubernetes)"
major="${kver#v}"; major="${major%%.*}"
minor="${kver#v*.}"; minor="${minor%%.*}"
# What the Kubernetes release build stamps in, so /version and --version tell the truth
# (a plain `go build` says v0.0.0-master). -X only touches the link step, so the
# compiled packages stay shared with any other build of the same module.
vpkg=k8s.io/component-base/version
ldflags="-X $vpkg.gitVersion=$kver -X $vpkg.gitMajor=$major -X $vpkg.gitMinor=$minor -X $vpkg.gitTreeState=clean"

echo "harness: building kube-apiserver $kver and etcd (pins changed or binaries missing)"
go build -ldflags "$ldflags" -o "$bin/kube-apiserver.tmp" k8s.io/kubernetes/cmd/kube-apiserver
go build -o "$bin/etcd.tmp" go.etcd.io/etcd/server/v3
mv -f "$bin/kube-apiserver.tmp" "$bin/kube-apiserver"
mv -f "$bin/etcd.tmp" "$bin/etcd"
echo "$want" >"$stamp"
echo "harness: built in $((SECONDS - start)) s"
print_versions
