#!/bin/sh
# Prints a NOTICE line when the browser tests (or their ffmpeg part) cannot run here and
# will be skipped (the checks of harnessMissing in main_test.go), so that
# `make test` says so without -v. Under CI=true it prints nothing: there the
# tests fail instead. Always exits 0.
cd "$(dirname "$0")" || exit 0
[ "$CI" = true ] && exit 0
missing=""
add() { missing="${missing:+$missing, }$1"; }
command -v node >/dev/null 2>&1 || add "node (not in PATH)"
chromium="${CHROMIUM:-/usr/bin/chromium}"
if [ ! -f "$chromium" ] || [ ! -x "$chromium" ]; then add "Chromium ($chromium; set CHROMIUM)"; fi
for f in dist/lite.js dist/net.js dist/watch.js dist/publish.js node_modules/playwright-core/package.json; do
	[ -f "$f" ] || add "examples/web/$f (run make web)"
done
if ! command -v ffmpeg >/dev/null 2>&1; then
	echo "NOTICE: the ffmpeg test pattern test (examples/web TestBrowserVideo/ffmpeg) SKIPPED: ffmpeg not in PATH (apt-get install ffmpeg)"
fi
[ -z "$missing" ] && exit 0
echo "NOTICE: browser interop tests (examples/web) SKIPPED: missing $missing. To run them: apt-get install chromium nodejs npm && make web (CI=true makes a missing harness fail)"
