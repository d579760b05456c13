#!/usr/bin/env bash
# Run every Go fuzz target in the module for a fixed time each.
#
# usage: .ci/fuzz.sh [FUZZTIME]
#
#   FUZZTIME       per-target fuzzing time, a Go duration ("20s", "1m30s") or
#                  an iteration count ("5000x"); the argument wins over the
#                  environment variable; default 20s.
#   FUZZ_PARALLEL  fuzz workers per target (go test -parallel); default: go's
#                  (GOMAXPROCS).
#   FUZZ_MINIMIZE  -fuzzminimizetime: how long go may spend shrinking a new
#                  corpus entry or a failing input; default 10s (go's 60s
#                  stalls short runs whenever an input is found).
#   FUZZ_GRACE     seconds allowed per target on top of FUZZTIME for building
#                  and the baseline run over the corpus; default 180.
#   FUZZ_CAP       hard limit per target, in seconds, when FUZZTIME is an
#                  iteration count; default 600.
#   FUZZ_LOG_DIR   where each target's go test output is kept; default a new
#                  temporary directory.
#
# `go test -fuzz` runs one target at a time, so each target found by
# `go test -list '^Fuzz'` gets its own run under timeout(1), killed after
# FUZZTIME + FUZZ_GRACE. All targets run even after a failure; the exit
# status is 1 if any failed (2 for a usage error), and for each failure the
# script prints where go wrote the failing input (the package's
# testdata/fuzz/<Target>/ directory; commit it as a regression case once
# fixed) and the tail of its log.
#
# Go before 1.27 sometimes fails a target with a bare "context deadline
# exceeded" when -fuzztime runs out (golang/go#75804): no input is written
# and nothing reproduces. Such a run is retried once; if the retry ends the
# same way the target is reported as FLAKE, which does not fail the script.
# Any other failure is never retried. Worst case the script takes
# targets x 2 x (FUZZTIME + FUZZ_GRACE).
set -euo pipefail

fuzztime=${1:-${FUZZTIME:-20s}}
grace=${FUZZ_GRACE:-180}
cap_iter=${FUZZ_CAP:-600}

die() {
	echo "fuzz.sh: $*" >&2
	exit 2
}

# seconds_of prints a Go duration rounded up to whole seconds, or fails.
seconds_of() {
	awk -v d="$1" 'BEGIN {
		if (d !~ /^([0-9]+(\.[0-9]*)?(h|m|s|ms|us|ns))+$/) exit 1
		split("h m s ms us ns", u, " ")
		split("3600 60 1 0.001 0.000001 0.000000001", f, " ")
		for (i in u) scale[u[i]] = f[i]
		total = 0
		while (d != "") {
			match(d, /^[0-9]+(\.[0-9]*)?/)
			n = substr(d, 1, RLENGTH) + 0
			d = substr(d, RLENGTH + 1)
			match(d, /^(h|ms|m|s|us|ns)/)
			total += n * scale[substr(d, 1, RLENGTH)]
			d = substr(d, RLENGTH + 1)
		}
		s = int(total)
		if (s < total) s++
		print s
	}'
}

if [[ $fuzztime =~ ^[0-9]+x$ ]]; then
	cap=$cap_iter
elif secs=$(seconds_of "$fuzztime"); then
	cap=$((secs + grace))
else
	die "FUZZTIME must be a Go duration (20s, 1m30s) or an iteration count (500x), not '$fuzztime'"
fi
[[ $cap =~ ^[0-9]+$ && $cap -gt 0 ]] || die "bad FUZZ_GRACE/FUZZ_CAP"

if command -v timeout >/dev/null 2>&1; then
	timeout_cmd=timeout
elif command -v gtimeout >/dev/null 2>&1; then
	timeout_cmd=gtimeout
else
	die "timeout(1) from coreutils is required to bound each run"
fi

parallel=()
if [[ -n ${FUZZ_PARALLEL:-} ]]; then
	parallel=(-parallel "$FUZZ_PARALLEL")
fi

cd "$(dirname -- "${BASH_SOURCE[0]}")/.."
root=$PWD
module=$(go list -m)
logs=${FUZZ_LOG_DIR:-$(mktemp -d "${TMPDIR:-/tmp}/fuzz.XXXXXX")}
mkdir -p "$logs"

# Packages whose test files declare a fuzz target, then the exact names.
targets=()
while read -r pkg files; do
	[[ -n $files ]] || continue
	# shellcheck disable=SC2086 # files is a space-separated list of paths
	grep -q '^func Fuzz' $files || continue
	names=$(go test -list '^Fuzz' -run '^$' "$pkg" | grep '^Fuzz' || true)
	for name in $names; do
		targets+=("$pkg $name")
	done
done < <(go list -f '{{.ImportPath}}{{range .TestGoFiles}} {{$.Dir}}/{{.}}{{end}}{{range .XTestGoFiles}} {{$.Dir}}/{{.}}{{end}}' ./...)

((${#targets[@]} > 0)) || die "no fuzz targets found"
echo "fuzz.sh: ${#targets[@]} targets, $fuzztime each (at most ${cap}s each); logs in $logs"

# run_target PKG NAME LOG: one bounded fuzzing run; prints go test's status.
run_target() {
	local rc=0
	"$timeout_cmd" --kill-after=30 "$cap" \
		go test -run '^$' -fuzz "^${2}\$" -fuzztime "$fuzztime" \
		-fuzzminimizetime "${FUZZ_MINIMIZE:-10s}" ${parallel[@]+"${parallel[@]}"} "$1" >"$3" 2>&1 || rc=$?
	echo "$rc"
}

# deadline_flake LOG: the run failed only with the Go fuzz coordinator's
# "context deadline exceeded" race at the end of -fuzztime (golang/go#75804,
# fixed in Go 1.27): nothing was found, no input was written, no test line
# (file.go:N:), subtest failure or panic was printed.
deadline_flake() {
	grep -q '^    context deadline exceeded$' "$1" &&
		! grep -q 'Failing input written to' "$1" &&
		! grep -qE '^[[:space:]]+--- FAIL|panic:|\.go:[0-9]+: ' "$1"
}

failed=()
flaked=()
summary=()
for t in "${targets[@]}"; do
	read -r pkg name <<<"$t"
	rel=${pkg#"$module"}
	rel=${rel#/}
	short=./$rel
	tag=${rel//\//_}
	log="$logs/${tag:-root}.$name.log"
	start=$SECONDS
	rc=$(run_target "$pkg" "$name" "$log")
	note=
	if [[ $rc != 0 ]] && deadline_flake "$log"; then
		# Known toolchain flake: keep the log and try once more.
		mv "$log" "$log.flake"
		rc=$(run_target "$pkg" "$name" "$log")
		note=" (retried after a fuzztime deadline flake)"
		if [[ $rc != 0 ]] && deadline_flake "$log"; then
			rc=flake
		fi
	fi
	took=$((SECONDS - start))
	execs=$(grep -o 'execs: [0-9]*' "$log" | tail -n1 | cut -d' ' -f2 || true)
	case $rc in
	0) status=PASS ;;
	flake) status=FLAKE ;;
	124 | 137) status=TIMEOUT ;;
	*) status=FAIL ;;
	esac
	line=$(printf '%-7s %-16s %-26s %4ss  execs=%s%s' "$status" "$short" "$name" "$took" "${execs:-?}" "$note")
	echo "$line"
	summary+=("$line")
	case $status in
	PASS) ;;
	FLAKE)
		flaked+=("$short $name")
		echo "        twice only 'context deadline exceeded' at the fuzztime boundary, no input found;"
		echo "        not counted as a failure (golang/go#75804). log: $log"
		;;
	*)
		failed+=("$short $name")
		dir=$(go list -f '{{.Dir}}' "$pkg")
		if written=$(grep -o 'Failing input written to [^ ]*' "$log"); then
			while read -r _ _ _ _ path; do
				echo "        failing input: ${dir#"$root"/}/$path"
				echo "        re-run: go test -run '^$name/$(basename "$path")\$' ${short}"
			done <<<"$written"
		elif [[ $status == TIMEOUT ]]; then
			echo "        killed after ${cap}s (a hang, or a build slower than FUZZ_GRACE); no input written"
		else
			echo "        no failing input was written (build error or failure outside the fuzz function)"
		fi
		echo "        log: $log (last lines below)"
		tail -n 25 "$log" | sed 's/^/        | /'
		;;
	esac
done

echo
echo "fuzz.sh summary ($fuzztime per target):"
printf '  %s\n' "${summary[@]}"
if ((${#flaked[@]} > 0)); then
	echo "fuzz.sh: ${#flaked[@]} targets hit the Go fuzztime deadline flake twice (not failures):"
	printf '  %s\n' "${flaked[@]}"
fi
if ((${#failed[@]} > 0)); then
	echo "fuzz.sh: ${#failed[@]} of ${#targets[@]} targets failed:"
	printf '  %s\n' "${failed[@]}"
	exit 1
fi
echo "fuzz.sh: no failures in ${#targets[@]} targets"
