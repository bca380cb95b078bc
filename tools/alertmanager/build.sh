#!/usr/bin/env bash
# Builds alertmanager and amtool at the version <module dir>/go.mod requires, into <bin dir> with
# <suffix> appended to both names, the way `go install` would: the release's own go.mod and go.sum
# pin every dependency, and its module zip is checked against <module dir>/go.sum.
#
# Why not `go install`: since v0.32 ui/web.go embeds ui/app/dist (`//go:embed app/dist`), the
# built web UI, which the module zip lacks, so the module does not compile as published. We build
# a writable copy of it with a placeholder ui/app/dist/index.html instead (the API, the webhook
# and amtool do not need the UI). Releases that still carry their UI are built unchanged.
#
# usage: build.sh <module dir> <bin dir> <suffix> <scratch dir>
set -euo pipefail
[ $# -eq 4 ] || { echo "usage: $0 <module dir> <bin dir> <suffix> <scratch dir>" >&2; exit 2; }
moddir=$1 bin=$2 suffix=$3 scratch=$4
GO=${GO:-go}
mod=github.com/prometheus/alertmanager

# Download (verified against go.sum; on a bump, records the new checksum there) and locate it.
(cd "$moddir" && "$GO" mod download "$mod")
read -r dir version < <(cd "$moddir" && "$GO" list -m -f '{{.Dir}} {{.Version}}' "$mod")
[ -d "$dir" ] || { echo "$0: $mod $version: module not in the module cache after download" >&2; exit 1; }

src=$scratch/alertmanager-$version
if [ ! -f "$src/.andon-ready" ]; then
	rm -rf "$src" && mkdir -p "$scratch"
	cp -R "$dir" "$src" && chmod -R u+w "$src"
	if grep -q '^//go:embed app/dist' "$src/ui/web.go" 2>/dev/null && [ ! -d "$src/ui/app/dist" ]; then
		mkdir -p "$src/ui/app/dist"
		printf '<!doctype html><title>Alertmanager</title><p>Web UI not built: this binary was built by andon for its tests (tools/alertmanager/build.sh); the API is complete.</p>\n' \
			>"$src/ui/app/dist/index.html"
	fi
	touch "$src/.andon-ready"
fi

echo ">> building alertmanager$suffix + amtool$suffix $version (first time takes minutes)"
out=$(mktemp -d "$scratch/out.XXXXXX")
trap 'rm -rf "$out"' EXIT
(cd "$src" && GOFLAGS=-mod=readonly "$GO" build -trimpath \
	-ldflags "-X github.com/prometheus/common/version.Version=${version#v} -X github.com/prometheus/common/version.Branch=release" \
	-o "$out/" ./cmd/alertmanager ./cmd/amtool)
mkdir -p "$bin"
mv "$out/alertmanager" "$bin/alertmanager$suffix"
mv "$out/amtool" "$bin/amtool$suffix"
