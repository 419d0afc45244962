#!/usr/bin/env bash
# Builds the real parts of the request path that the end-to-end suite runs: Traefik
# (traefik/go.mod) and ory/hydra, the OpenID provider (hydra/go.mod), into
# <repo>/.cache/bin (git-ignored).
#
# Each has its own stamp (the hash of its go.mod, go.sum and this script) and lock: while
# the stamp matches and the binary is there, nothing is built, so a warm run costs
# milliseconds and a cold machine builds from the Go module proxy. Arguments name the
# tools to build (`traefik`, `hydra`; default both); `--force` rebuilds anyway.
# OAM_TRAEFIK_TOOLS_BIN overrides the output folder.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
bin="${OAM_TRAEFIK_TOOLS_BIN:-$repo/.cache/bin}"
force=0
tools=()
for arg in "$@"; do
  case "$arg" in
    --force) force=1 ;;
    traefik | hydra) tools+=("$arg") ;;
    *) echo "usage: $0 [--force] [traefik] [hydra]" >&2; exit 2 ;;
  esac
done
[[ ${#tools[@]} -gt 0 ]] || tools=(traefik hydra)

mkdir -p "$bin"
export GOFLAGS="${GOFLAGS:--buildvcs=false}"

# build NAME: the tool NAME from the module in $here/NAME, unless its stamp matches.
build() {
  local name="$1" dir="$here/$1"
  local stamp="$bin/$name.stamp"
  local want
  want="$(cat "$dir/go.mod" "$dir/go.sum" "$here/build-request-path.sh" | sha256sum | cut -d' ' -f1)"
  built() { [[ $force == 0 && -x "$bin/$name" && -f "$stamp" && "$(cat "$stamp")" == "$want" ]]; }
  built && return 0
  # Test binaries may call this at the same time: one builds, the others wait for it.
  exec 9>"$bin/$name.lock"
  flock 9
  if built; then
    exec 9>&-
    return 0
  fi
  local start=$SECONDS version
  echo "request path: building $name (pins changed or binary missing)" >&2
  (
    cd "$dir"
    case "$name" in
      traefik)
        version="$(go list -m -f '{{.Version}}' github.com/traefik/traefik/v3)"
        # Pure Go, as Traefik's own release build (CGO_ENABLED=0), with its version stamp.
        CGO_ENABLED=0 go build -p 2 -trimpath \
          -ldflags="-s -w -X github.com/traefik/traefik/v3/pkg/version.Version=$version" \
          -o "$bin/traefik.tmp" github.com/traefik/traefik/v3/cmd/traefik
        ;;
      hydra)
        version="$(go list -m -f '{{.Version}}' github.com/ory/hydra/v2)"
        # The sqlite driver is cgo (mattn/go-sqlite3), behind the `sqlite` build tag.
        CGO_ENABLED=1 go build -p 2 -trimpath -tags sqlite \
          -ldflags="-s -w -X github.com/ory/hydra/v2/driver/config.Version=$version" \
          -o "$bin/hydra.tmp" github.com/ory/hydra/v2
        ;;
    esac
  )
  mv -f "$bin/$name.tmp" "$bin/$name"
  echo "$want" >"$stamp"
  echo "request path: built $name into $bin in $((SECONDS - start)) s" >&2
  exec 9>&-
}

for tool in "${tools[@]}"; do
  build "$tool"
done
