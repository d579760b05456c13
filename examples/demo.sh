#!/usr/bin/env bash
# Local demo on loopback: a relay with a fresh self-signed certificate, the
# clock example publishing into it, and a subscriber that proves it works.
# Prints how to watch from the terminal and from a real browser, then keeps
# running until Ctrl-C (or DEMO_SECONDS, if set, elapse).
set -euo pipefail
cd "$(dirname "$0")/.."

PORT="${PORT:-4443}"
BIN="${BIN:-bin}"
LOGDIR="$(mktemp -d)"
mkdir -p "$BIN"
go build -o "$BIN/" ./cmd/... ./examples/clock

pids=()
cleanup() {
	for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
	wait 2>/dev/null || true
}
trap cleanup EXIT INT TERM

"$BIN/moq-relay" --bind "127.0.0.1:$PORT" --tls-generate localhost,127.0.0.1 --log-format console >"$LOGDIR/relay.log" 2>&1 &
pids+=($!)

# The relay serves its certificate hash over plain HTTP on the same port
# (fetched with bash's /dev/tcp so the demo needs no curl).
fetch_fingerprint() {
	exec 3<>"/dev/tcp/127.0.0.1/$PORT" || return 1
	printf 'GET /certificate.sha256 HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n' >&3
	tail -n 1 <&3 | tr -dc '0-9a-f'
	exec 3<&-
}
fp=""
for _ in $(seq 50); do
	fp="$(fetch_fingerprint 2>/dev/null || true)"
	[ "${#fp}" -eq 64 ] || fp=""
	[ -n "$fp" ] && break
	sleep 0.1
done
[ -n "$fp" ] || { echo "relay did not start:"; cat "$LOGDIR/relay.log"; exit 1; }

"$BIN/clock" --mode pub --url "moqt://127.0.0.1:$PORT/" --fingerprint "$fp" >"$LOGDIR/clock.log" 2>&1 &
pids+=($!)

echo "relay     udp+tcp 127.0.0.1:$PORT   certificate sha256 $fp"
echo "logs      $LOGDIR"
echo
echo "self-check: three frames of clock/seconds through the relay:"
timeout 15 "$BIN/moq" sub --fingerprint "$fp" "moqt://127.0.0.1:$PORT/" clock seconds --count 3 | sed 's/^/  /'
cat <<MSG

watch it yourself:
  $BIN/moq sub --fingerprint $fp moqt://127.0.0.1:$PORT/ clock seconds
  $BIN/moq sub http://127.0.0.1:$PORT/ clock seconds                # WebTransport, hash fetched over HTTP
  (cd examples/web && npm ci && npm run build && \\
   node run.mjs --pkg lite --mode sub --relay http://127.0.0.1:$PORT/ --broadcast clock --track seconds --count 5)
publish your own:
  (while sleep 1; do date; done) | $BIN/moq pub http://127.0.0.1:$PORT/ mine text
  $BIN/moq announced http://127.0.0.1:$PORT/

Ctrl-C stops the demo.
MSG
if [ -n "${DEMO_SECONDS:-}" ]; then
	sleep "$DEMO_SECONDS"
else
	wait
fi
