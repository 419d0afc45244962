#!/usr/bin/env bash
# Builds the oam-traefik OCI image without Docker: the same content as the Dockerfile (the
# webhook and the verifier at /, the CA roots, user 65532, entrypoint the webhook) assembled
# by go-containerregistry's crane (pinned in image/tools, built into .cache/bin like the test
# tools) from binaries cargo has already built, on an empty base.
#
#   bash image/build.sh [--bin-dir target/release] [--out target/image] [--tag 0.1.0]
#   bash image/build.sh --tools-only     # just build crane (what .ci/run does first)
#
# Writes an OCI image layout to OUT/oci (index.json, blobs/sha256/...) and OUT/image.tar (the
# same as one tarball, for `crane push` or `skopeo copy oci-archive:...`). The Dockerfile builds
# static musl binaries; here the binaries are the host's (glibc), so the shared libraries they
# load (ldd) go into the image with them, at the same paths. Debug symbols are stripped.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/.." && pwd)"
bin_dir="$repo/target/release"
out="$repo/target/image"
tools_only=false
tag="$(sed -n 's/^appVersion: *"\{0,1\}\([^"]*\)"\{0,1\}$/\1/p' "$repo/charts/oam-traefik/Chart.yaml")"
while (($#)); do
  case "$1" in
    --bin-dir) bin_dir="$(cd "$2" && pwd)"; shift 2 ;;
    --out) mkdir -p "$2"; out="$(cd "$2" && pwd)"; shift 2 ;;
    --tag) tag="$2"; shift 2 ;;
    --tools-only) tools_only=true; shift ;;
    *) echo "usage: $0 [--bin-dir DIR] [--out DIR] [--tag TAG]" >&2; exit 2 ;;
  esac
done
binaries=(oam-traefik-webhook oam-traefik-auth)
if ! $tools_only; then
  for b in "${binaries[@]}"; do
    [[ -x "$bin_dir/$b" ]] || { echo "no $bin_dir/$b: build it first (cargo build --release -p $b)" >&2; exit 1; }
  done
fi

# crane, from the Go module proxy, cached behind a hash stamp and a lock (as tests/tools/build.sh).
cache="${OAM_TRAEFIK_TOOLS_BIN:-$repo/.cache/bin}"
mkdir -p "$cache"
want="$(cat "$here/tools/go.mod" "$here/tools/go.sum" "$here/build.sh" | sha256sum | cut -d' ' -f1)"
crane="$cache/crane"
built() { [[ -x "$crane" && -f "$cache/crane.stamp" && "$(cat "$cache/crane.stamp")" == "$want" ]]; }
if ! built; then
  exec 9>"$cache/crane.lock"
  flock 9
  if ! built; then
    start=$SECONDS
    (cd "$here/tools" && GOFLAGS="${GOFLAGS:--buildvcs=false}" \
      go build -p 2 -trimpath -ldflags='-s -w' -o "$crane.tmp" github.com/google/go-containerregistry/cmd/crane)
    mv -f "$crane.tmp" "$crane"
    echo "$want" >"$cache/crane.stamp"
    echo "image: built crane into $cache in $((SECONDS - start))s" >&2
  fi
  exec 9>&-
fi
$tools_only && exit 0

work="$(mktemp -d)"
registry_pid=""
cleanup() {
  if [[ -n "$registry_pid" ]]; then kill "$registry_pid" 2>/dev/null; wait "$registry_pid" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT

# The root filesystem: the binaries, what they load, the CA roots; nothing else (no shell).
root="$work/rootfs"
mkdir -p "$root/etc/ssl/certs"
install -m 0644 /etc/ssl/certs/ca-certificates.crt "$root/etc/ssl/certs/ca-certificates.crt"
for b in "${binaries[@]}"; do
  strip --strip-debug -o "$root/$b" "$bin_dir/$b"
  chmod 0755 "$root/$b"
  # Every library the dynamic loader resolves for it, and the loader itself.
  ldd "$bin_dir/$b" | awk '$2 == "=>" && $3 ~ /^\// {print $3} $1 ~ /^\// {print $1}' | while read -r lib; do
    real="$(readlink -f "$lib")"
    mkdir -p "$root$(dirname "$lib")"
    [[ -e "$root$lib" ]] || install -m 0755 "$real" "$root$lib"
  done
done
# Reproducible: fixed owner, mode bits as set, one timestamp, sorted names.
tar --sort=name --owner=0 --group=0 --numeric-owner --mtime=@0 -C "$root" -cf "$work/layer.tar" .

# crane writes images to a registry: its own in-memory one, on loopback, for this build only.
port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
"$crane" registry serve --address "127.0.0.1:$port" >"$work/registry.log" 2>&1 &
registry_pid=$!
for _ in $(seq 100); do
  "$crane" catalog --insecure "127.0.0.1:$port" >/dev/null 2>&1 && break
  sleep 0.1
done
# crane reports every blob it pushes: keep that for when something fails.
c() { "$crane" "$@" 2>>"$work/crane.log" || { cat "$work/crane.log" >&2; return 1; }; }
ref="127.0.0.1:$port/oam-traefik/oam-traefik-webhook:$tag"
c append --insecure --oci-empty-base --platform linux/amd64 -f "$work/layer.tar" -t "$ref" >/dev/null
c mutate --insecure "$ref" -t "$ref" \
  --set-platform linux/amd64 \
  --entrypoint /oam-traefik-webhook \
  --user 65532:65532 \
  --exposed-ports 8443/tcp,9090/tcp,8080/tcp,9091/tcp \
  -l org.opencontainers.image.title=oam-traefik \
  -l org.opencontainers.image.version="$tag" \
  -l org.opencontainers.image.source=https://github.com/oam-traefik/oam-traefik >/dev/null

rm -rf "$out/oci" "$out/image.tar"
mkdir -p "$out"
c pull --insecure --format oci "$ref" "$out/oci"
(cd "$out/oci" && tar --sort=name --owner=0 --group=0 --numeric-owner --mtime=@0 -cf "$out/image.tar" .)
digest="$(c digest --insecure "$ref")"
echo "image: oam-traefik/oam-traefik-webhook:$tag $digest in $out/oci ($(du -sh "$out/oci" | cut -f1))"
