#!/usr/bin/env bash
# Local demo cluster on loopback (`make run`): a root and two leaves from
# examples/cluster/*.toml, each with a fresh self-signed certificate; the
# clock example publishing on leaf A; a subscriber on leaf B proving that the
# broadcast crosses the cluster (B asks the root where "clock" lives and pulls
# it from A). With ffmpeg and the browser bundles (make web), also an ffmpeg
# test pattern published on leaf A as testpattern.hang (bin/moq pub --media -)
# and the examples/web pages served on loopback, with one URL that plays the
# pattern from leaf B; without them a notice says what is missing. Prints how
# to watch, then runs until Ctrl-C, or for DEMO_SECONDS seconds if that is
# set (tests, CI).
#
# Env: ROOT_PORT, A_PORT, B_PORT (default 4443, 4444, 4445), WEB_PORT (the
# pages, default 8080), BIN (default bin), DEMO_SECONDS, DEMO_VIDEO=0 (no
# test pattern, no pages). Runs from the repository root (the configs name the
# token file relative to it).
set -euo pipefail
cd "$(dirname "$0")/.."

ROOT_PORT="${ROOT_PORT:-4443}"
A_PORT="${A_PORT:-4444}"
B_PORT="${B_PORT:-4445}"
WEB_PORT="${WEB_PORT:-8080}"
BIN="${BIN:-bin}"
HOST=127.0.0.1

for v in ROOT_PORT A_PORT B_PORT WEB_PORT; do
	[[ "${!v}" =~ ^[0-9]+$ ]] && [ "${!v}" -ge 1 ] && [ "${!v}" -le 65535 ] ||
		{ echo "demo: $v=${!v} is not a port number" >&2; exit 2; }
done
if [ "$ROOT_PORT" = "$A_PORT" ] || [ "$ROOT_PORT" = "$B_PORT" ] || [ "$A_PORT" = "$B_PORT" ]; then
	echo "demo: ROOT_PORT, A_PORT and B_PORT must differ" >&2
	exit 2
fi
if [ -n "${DEMO_SECONDS:-}" ] && ! [[ "$DEMO_SECONDS" =~ ^[0-9]+$ ]]; then
	echo "demo: DEMO_SECONDS=$DEMO_SECONDS is not a whole number of seconds" >&2
	exit 2
fi

# `make run` has just built everything (with the version stamped in); run by
# hand, build here.
if [ -z "${MAKELEVEL:-}" ]; then
	mkdir -p "$BIN"
	go build -o "$BIN/" ./cmd/... ./examples/clock
	go build -o "$BIN/moq-web-serve" ./examples/web/serve
fi

# The video part needs ffmpeg, the browser bundles and the page server.
video_missing=""
if [ "${DEMO_VIDEO:-1}" = 0 ]; then
	video_missing="DEMO_VIDEO=0"
else
	command -v ffmpeg >/dev/null 2>&1 || video_missing="ffmpeg (apt-get install ffmpeg)"
	for f in examples/web/dist/watch.js examples/web/dist/publish.js; do
		[ -f "$f" ] || video_missing="${video_missing:+$video_missing, }$f (make web; needs npm)"
	done
	[ -x "$BIN/moq-web-serve" ] || video_missing="${video_missing:+$video_missing, }$BIN/moq-web-serve (make run builds it)"
fi

# A port taken over TCP is caught here; one taken over UDP only by the relay
# failing to start (its log is shown then).
ports=("$ROOT_PORT" "$A_PORT" "$B_PORT")
[ -z "$video_missing" ] && ports+=("$WEB_PORT")
for port in "${ports[@]}"; do
	if (exec 3<>"/dev/tcp/$HOST/$port") 2>/dev/null; then
		echo "demo: port $port is taken: something already listens on $HOST:$port (TCP)." \
			"Stop it (pgrep -af moq-relay) or pick other ports with ROOT_PORT, A_PORT, B_PORT, WEB_PORT." >&2
		exit 1
	fi
done

LOGDIR="$(mktemp -d "${TMPDIR:-/tmp}/moq-demo.XXXXXX")"

# --- process bookkeeping: every child is killed and reaped on every exit path.
pids=()
names=()
cleanup() {
	trap - EXIT INT TERM
	local pid i
	for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
	# Relays shut down gracefully on SIGTERM; give them 5 s, then SIGKILL.
	for _ in $(seq 50); do
		local alive=0
		for pid in "${pids[@]}"; do kill -0 "$pid" 2>/dev/null && alive=1; done
		[ "$alive" = 0 ] && break
		sleep 0.1
	done
	for i in "${!pids[@]}"; do
		if kill -0 "${pids[$i]}" 2>/dev/null; then
			echo "demo: ${names[$i]} did not stop in 5 s; killing it" >&2
			kill -KILL "${pids[$i]}" 2>/dev/null || true
		fi
	done
	wait 2>/dev/null || true
}
trap cleanup EXIT
trap 'echo; echo "stopping (logs kept in $LOGDIR)"; exit 130' INT
trap 'exit 143' TERM

# start NAME CMD...: run CMD in the background, output to $LOGDIR/NAME.log.
start() {
	local name="$1"
	shift
	"$@" >"$LOGDIR/$name.log" 2>&1 &
	pids+=("$!")
	names+=("$name")
}

# start_from FILE NAME CMD...: like start, with stdin from FILE.
start_from() {
	local file="$1" name="$2"
	shift 2
	"$@" <"$file" >"$LOGDIR/$name.log" 2>&1 &
	pids+=("$!")
	names+=("$name")
}

# http_get PORT PATH: print the body of a plain-HTTP GET to the relay's TCP
# side (bash's /dev/tcp, so the demo needs no curl), at most 2 s.
http_get() {
	timeout 2 bash -c '
		exec 3<>"/dev/tcp/$0/$1" || exit 1
		printf "GET %s HTTP/1.0\r\nHost: %s\r\n\r\n" "$2" "$0" >&3
		sed "1,/^\r\{0,1\}\$/d" <&3' "$HOST" "$1" "$2" 2>/dev/null
}

fail() {
	echo "demo: $*" >&2
	exit 1
}

# show_log NAME: the tail of a log, for error messages.
show_log() {
	echo "--- $LOGDIR/$1.log (last 20 lines) ---" >&2
	tail -n 20 "$LOGDIR/$1.log" >&2 || true
}

# --- the three nodes

# Flags override the config files only where a port was changed.
node_args() { # FILE PORT DEFAULT_PORT
	local args=(--config "examples/cluster/$1.toml")
	if [ "$2" != "$3" ]; then
		args+=(--bind "$HOST:$2" --cluster-node "http://$HOST:$2")
	fi
	if [ "$1" != root ] && [ "$ROOT_PORT" != 4443 ]; then
		args+=(--cluster-root "http://$HOST:$ROOT_PORT")
	fi
	echo "${args[@]}"
}
# shellcheck disable=SC2046 # node_args prints words without spaces inside
start root "$BIN/moq-relay" $(node_args root "$ROOT_PORT" 4443)
# shellcheck disable=SC2046
start leaf-a "$BIN/moq-relay" $(node_args leaf-a "$A_PORT" 4444)
# shellcheck disable=SC2046
start leaf-b "$BIN/moq-relay" $(node_args leaf-b "$B_PORT" 4445)

# wait_health NAME PORT INDEX: until GET /health answers, at most 10 s.
wait_health() {
	for _ in $(seq 100); do
		kill -0 "${pids[$3]}" 2>/dev/null || { show_log "$1"; fail "$1 exited at start (port $2 taken over UDP? see above)"; }
		case "$(http_get "$2" /health || true)" in *'"ok"'*) return 0 ;; esac
		sleep 0.1
	done
	show_log "$1"
	fail "$1 did not answer GET http://$HOST:$2/health within 10 s"
}
wait_health root "$ROOT_PORT" 0
wait_health leaf-a "$A_PORT" 1
wait_health leaf-b "$B_PORT" 2

# fingerprint PORT: the node's certificate hash (64 hex digits) from /certificate.sha256.
fingerprint() {
	local fp
	fp="$(http_get "$1" /certificate.sha256 | tr -dc '0-9a-f')"
	[ "${#fp}" -eq 64 ] || fail "no certificate hash at http://$HOST:$1/certificate.sha256"
	echo "$fp"
}
FP_ROOT="$(fingerprint "$ROOT_PORT")"
FP_A="$(fingerprint "$A_PORT")"
FP_B="$(fingerprint "$B_PORT")"

# --- the clock, published on leaf A over raw QUIC with A's certificate pinned
start clock-pub "$BIN/clock" --mode pub --url "moqt://$HOST:$A_PORT/" --fingerprint "$FP_A"

# Until the root's directory holds it (leaf A announced it), at most 15 s.
dir_size() {
	local body n
	body="$(http_get "$ROOT_PORT" /cluster || true)"
	n="$(tr -d ' \n' <<<"$body" | grep -o '"directory_size":[0-9]*' | grep -o '[0-9]*$' || true)"
	echo "${n:-0}"
}
for i in $(seq 151); do
	[ "$(dir_size)" -ge 1 ] && break
	kill -0 "${pids[3]}" 2>/dev/null || { show_log clock-pub; fail "the clock publisher on leaf A exited"; }
	[ "$i" -lt 151 ] || { show_log leaf-a; show_log root; fail "the root's directory stayed empty for 15 s (GET http://$HOST:$ROOT_PORT/cluster)"; }
	sleep 0.1
done

cat <<MSG
demo cluster on $HOST (UDP: QUIC/WebTransport, TCP: HTTP), self-signed certificates:
  root    $HOST:$ROOT_PORT   sha256 $FP_ROOT
  leaf A  $HOST:$A_PORT   sha256 $FP_A   <- clock published here
  leaf B  $HOST:$B_PORT   sha256 $FP_B
logs      $LOGDIR

self-check: three frames of clock/seconds received on leaf B (pulled from leaf A):
MSG
# Leaf B announces clock (published on A) to its clients; the subscriber
# waits for that announcement, then pulls it through B.
timeout 20 "$BIN/clock" --mode sub --count 3 --url "moqt://$HOST:$B_PORT/" \
	--fingerprint "$FP_B" >"$LOGDIR/self-check.out" 2>"$LOGDIR/self-check.log" &
pids+=("$!")
names+=("self-check")
rc=0
wait "$!" || rc=$? # frames: self-check.out; logs: self-check.log
if [ "$rc" -ne 0 ] || [ "$(grep -c . "$LOGDIR/self-check.out")" -lt 3 ]; then
	show_log self-check
	show_log leaf-b
	[ "$rc" -eq 124 ] && fail "the self-check on leaf B got no 3 frames within 20 s"
	fail "the self-check on leaf B failed (exit $rc)"
fi
sed 's/^/  /' "$LOGDIR/self-check.out"

cat <<MSG

watch it from leaf B (every node announces what is published anywhere in the cluster):
  $BIN/moq announced http://$HOST:$B_PORT/                               # +clock
  $BIN/clock --mode sub --url http://$HOST:$B_PORT/                  # WebTransport, hash fetched over HTTP
  $BIN/clock --mode sub --url moqt://$HOST:$B_PORT/ --fingerprint $FP_B
  $BIN/moq sub http://$HOST:$B_PORT/ clock seconds                       # the client CLI
  $BIN/moq sub --protocol moqt-18 http://$HOST:$B_PORT/ clock seconds    # in IETF moq-transport (draft-18)
  $BIN/moq-test-client -r moqt://$HOST:$B_PORT --tls-disable-verify --draft all   # interop runner cases
cluster state (GET /cluster):
  curl -s http://$HOST:$ROOT_PORT/cluster     # root: members and directory
  curl -s http://$HOST:$A_PORT/cluster     # leaf A: its root, local broadcasts
  curl -s http://$HOST:$B_PORT/cluster     # leaf B: remote broadcasts, peer links
publish your own on leaf A, watch it on leaf B:
  (while sleep 1; do date; done) | $BIN/moq pub http://$HOST:$A_PORT/ mine text
  $BIN/moq sub http://$HOST:$B_PORT/ mine text

MSG

# --- video: the ffmpeg test pattern on leaf A, the pages on loopback
if [ -n "$video_missing" ]; then
	echo "NOTICE: no video in this demo (missing $video_missing): the text clock only."
	echo
else
	# ffmpeg writes H.264 Annex-B into a FIFO that moq pub reads: two plain
	# children, each stopped and reaped like the others; either one's exit
	# ends the other (EOF, EPIPE).
	mkfifo "$LOGDIR/testpattern.h264"
	start_from "$LOGDIR/testpattern.h264" testpattern-pub "$BIN/moq" pub --media - "http://$HOST:$A_PORT/" testpattern.hang
	start ffmpeg ffmpeg -nostdin -hide_banner -loglevel error -re -f lavfi -i testsrc2=size=1280x720:rate=30 \
		-c:v libx264 -preset veryfast -tune zerolatency -g 30 -bf 0 -pix_fmt yuv420p \
		-bsf:v h264_metadata=aud=insert -f h264 -y "$LOGDIR/testpattern.h264"
	start web "$BIN/moq-web-serve" --bind "$HOST:$WEB_PORT" --dir examples/web
	for i in $(seq 50); do
		(exec 3<>"/dev/tcp/$HOST/$WEB_PORT") 2>/dev/null && break
		kill -0 "${pids[-1]}" 2>/dev/null || { show_log web; fail "the page server exited"; }
		[ "$i" -lt 50 ] || { show_log web; fail "the page server did not listen on $HOST:$WEB_PORT within 5 s"; }
		sleep 0.1
	done
	# The pattern's catalog read on leaf B: the video crosses the cluster.
	if ! timeout 20 "$BIN/moq" sub --count 1 "http://$HOST:$B_PORT/" testpattern.hang catalog.json \
		>"$LOGDIR/video-check.out" 2>"$LOGDIR/video-check.log"; then
		show_log video-check
		show_log testpattern-pub
		show_log ffmpeg
		fail "the test pattern's catalog did not arrive on leaf B within 20 s"
	fi
	cat <<MSG
video: an ffmpeg test pattern (1280x720, H.264) published on leaf A as testpattern.hang
  (its catalog arrived on leaf B). Pages served by $BIN/moq-web-serve on $HOST:$WEB_PORT.
open this in a desktop Chrome to watch it from leaf B:

  http://$HOST:$WEB_PORT/watch.html?url=http://$HOST:$B_PORT/&name=testpattern.hang

publish your camera on leaf A (then pick it in the watch page's list):
  http://$HOST:$WEB_PORT/publish.html?url=http://$HOST:$A_PORT/

MSG
fi

# --- run until Ctrl-C, DEMO_SECONDS, or a node dies
if [ -n "${DEMO_SECONDS:-}" ]; then
	echo "stopping in $DEMO_SECONDS s (DEMO_SECONDS)."
	sleep "$DEMO_SECONDS" &
	pids+=("$!")
	names+=("timer")
	timer="$!"
else
	echo "Ctrl-C stops the demo."
	timer=""
fi
# wait -n returns when any child ends (or at once, on a signal, via the traps).
while :; do
	ended=""
	rc=0
	wait -n -p ended || rc=$?
	[ -n "$ended" ] || continue
	[ "$ended" = "$timer" ] && { echo "DEMO_SECONDS elapsed; stopping."; exit 0; }
	for i in "${!pids[@]}"; do
		if [ "${pids[$i]}" = "$ended" ]; then
			[ "${names[$i]}" = self-check ] && continue 2 # already reaped above
			show_log "${names[$i]}"
			fail "${names[$i]} exited unexpectedly (status $rc); stopping"
		fi
	done
done
