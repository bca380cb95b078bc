#!/usr/bin/env bash
# Builds commands of a Go module at the version <tools module dir>/go.mod requires, into <bin dir>
# with <suffix> appended to their names, the way `go install` would: the release's own go.mod (with
# its replace directives) and go.sum pin every dependency, and its module zip is checked against
# <tools module dir>/go.sum.
#
# Why not `go install`: some releases do not build that way.
#   - Alertmanager ≥ 0.32: ui/web.go embeds ui/app/dist (`//go:embed app/dist`), the built web UI,
#     which the module zip lacks. The copy gets a placeholder ui/app/dist/index.html (the API, the
#     webhook and amtool do not need the UI).
#   - Prometheus 2.x: its go.mod has replace directives, which `go install mod@version` refuses.
# So we build a writable copy of the module as the main module. Releases without either problem
# build unchanged.
#
# usage: build-module.sh <tools module dir> <module path> <bin dir> <suffix> <scratch dir> <command dir>...
#   e.g. build-module.sh tools/alertmanager/newest github.com/prometheus/alertmanager .cache/bin "" .cache/src cmd/alertmanager cmd/amtool
set -euo pipefail
[ $# -ge 6 ] || { echo "usage: $0 <tools module dir> <module path> <bin dir> <suffix> <scratch dir> <command dir>..." >&2; exit 2; }
moddir=$1 mod=$2 bin=$3 suffix=$4 scratch=$5
shift 5
GO=${GO:-go}

# Download (verified against go.sum; on a bump, records the new checksum there) and locate it.
(cd "$moddir" && "$GO" mod download "$mod")
read -r dir version < <(cd "$moddir" && "$GO" list -m -f '{{.Dir}} {{.Version}}' "$mod")
[ -d "$dir" ] || { echo "$0: $mod $version: not in the module cache after download" >&2; exit 1; }

src=$scratch/$(basename "$mod")-$version
if [ ! -f "$src/.andon-ready" ]; then
	rm -rf "$src" && mkdir -p "$scratch"
	cp -R "$dir" "$src" && chmod -R u+w "$src"
	if grep -q '^//go:embed app/dist' "$src/ui/web.go" 2>/dev/null && [ ! -d "$src/ui/app/dist" ]; then
		mkdir -p "$src/ui/app/dist"
		printf '<!doctype html><title>%s</title><p>Web UI not built: this binary was built by andon for its tests (tools/build-module.sh); the API is complete.</p>\n' \
			"$(basename "$mod")" >"$src/ui/app/dist/index.html"
	fi
	touch "$src/.andon-ready"
fi

# The version the binaries report (--version): the module's, except Prometheus, whose module
# v0.X.Y is release 2.X.Y (X < 300) or 3.(X-300).Y.
release=${version#v}
if [ "$mod" = github.com/prometheus/prometheus ]; then
	IFS=. read -r _ minor patch <<<"$release"
	if [ "$minor" -lt 300 ]; then release=2.$minor.$patch; else release=3.$((minor - 300)).$patch; fi
fi

names=()
for c in "$@"; do names+=("$(basename "$c")$suffix"); done
echo ">> building ${names[*]} from $mod $version (first time takes minutes)"
out=$(mktemp -d "$scratch/out.XXXXXX")
trap 'rm -rf "$out"' EXIT
pkgs=()
for c in "$@"; do pkgs+=("./$c"); done
(cd "$src" && GOFLAGS=-mod=readonly "$GO" build -trimpath \
	-ldflags "-X github.com/prometheus/common/version.Version=$release -X github.com/prometheus/common/version.Branch=release" \
	-o "$out/" "${pkgs[@]}")
mkdir -p "$bin"
for c in "$@"; do mv "$out/$(basename "$c")" "$bin/$(basename "$c")$suffix"; done
