#!/usr/bin/env bash
# Builds MediaMTX from its Go module for the interop test (examples/mediamtx).
# Usage: build.sh [OUT_BINARY]   (default /tmp/mediamtx-bin/mediamtx)
# MEDIAMTX_VERSION picks the module version (default v1.20.1, the one the test targets).
# The module is fetched with `go mod download` (a no-op when already cached); its
# two go:generate outputs (the hls.js bundle and the VERSION file) are not in the
# module, so placeholders stand in for them: neither matters to MoQ or RTSP.
set -euo pipefail

version="${MEDIAMTX_VERSION:-v1.20.1}"
out="${1:-/tmp/mediamtx-bin/mediamtx}"
src="${MEDIAMTX_SRC:-/tmp/mediamtx-src}"

dir="$(go mod download -json "github.com/bluenviron/mediamtx@${version}" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')"
if [ -z "$dir" ] || [ ! -d "$dir" ]; then
	echo "build.sh: github.com/bluenviron/mediamtx@${version} not found in the module cache" >&2
	exit 1
fi

# The module cache is read-only: build from a writable copy.
rm -rf "$src"
cp -r "$dir" "$src"
chmod -R u+w "$src"
[ -e "$src/internal/servers/hls/hls.min.js" ] || echo '/* placeholder: hls.js not bundled */' >"$src/internal/servers/hls/hls.min.js"
[ -e "$src/internal/core/VERSION" ] || printf '%s' "$version" >"$src/internal/core/VERSION"

mkdir -p "$(dirname "$out")"
# nice: a build on a shared machine should not disturb what else runs there.
(cd "$src" && nice -n 19 go build -o "$out" .)
echo "built $out ($("$out" --version 2>/dev/null || echo "$version"))"
