#!/usr/bin/env bash
# benchmark_bufreader.sh: the one-command bufreader benchmark run that the
# Monibuca BufReader article promised ("sh scripts/benchmark_bufreader.sh").
#
# It runs the FAIR suite (BenchmarkFair in ./bufreader: ours vs bufio with a
# reused buffer vs bufio Peek+Discard; see bufreader/bench_fair_test.go) in
# interleaved rounds: every round runs every scenario, one benchmark per
# process, and rotates the order of the three sides, so slow drift on a shared
# machine (thermal, noisy neighbours) does not always hit the same side. It
# then prints, per scenario, the medians over the rounds, the paired time
# ratios ours/bufio-reused and ours/bufio-peek (ratios of the medians, with
# the per-round range), allocs/op and GC/Mop of each side, and ours' copies/B.
# If benchstat is on PATH it is also run on the raw output (it is never
# installed by this script).
#
# Needs only Go. Run from anywhere in the repository. Settings (env vars):
#   ROUNDS=5          number of rounds
#   BENCHTIME=1s      -benchtime of each benchmark in each round
#   SCENARIOS="Net1K Proto GC512 Stream HF128"
#   CPU=              value for -cpu (default: GOMAXPROCS of the machine)
#   OUT=              keep the raw `go test` output in this file
#   STRICT=1          exit 3 when a target is missed (default: report only)
# Defaults take about 2.5 minutes on 2 cores. Exit status: 0 when all
# benchmarks ran (and, with STRICT=1, every target was met), non-zero on any
# failure.
#
# Targets: ours allocs/op == 0, ours/bufio-reused <= 0.95, ours/bufio-peek <= 1.05.

set -eu

ROUNDS=${ROUNDS:-5}
BENCHTIME=${BENCHTIME:-1s}
SCENARIOS=${SCENARIOS:-"Net1K Proto GC512 Stream HF128"}
CPU=${CPU:-}
OUT=${OUT:-}
STRICT=${STRICT:-0}
SIDES="ours bufio-reused bufio-peek"

die() {
	echo "benchmark_bufreader: $*" >&2
	exit 1
}

command -v go >/dev/null 2>&1 || die "go is not on PATH"
case $ROUNDS in '' | *[!0-9]*) die "ROUNDS must be a positive integer" ;; esac
[ "$ROUNDS" -ge 1 ] || die "ROUNDS must be at least 1"

cd "$(dirname "$0")/.."
[ -d bufreader ] || die "run from the zerocopy repository (no ./bufreader here)"

tmp=$(mktemp -d "${TMPDIR:-/tmp}/benchbr.XXXXXX")
trap 'rm -rf "$tmp"' EXIT INT TERM
raw=$tmp/raw.txt

# Build the test binary once, so every round runs the same code and no
# compile competes with the benchmarks.
echo "building ./bufreader test binary..." >&2
go test -c -o "$tmp/bufreader.test" ./bufreader || die "building the benchmarks failed"

cpuflag=""
[ -n "$CPU" ] && cpuflag="-test.cpu=$CPU"

{
	echo "# go: $(go version)"
	echo "# nproc: $(nproc 2>/dev/null || getconf _NPROCESSORS_ONLN)"
	echo "# cpu: $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo 2>/dev/null | head -n 1)"
	echo "# rounds: $ROUNDS  benchtime: $BENCHTIME  cpu: ${CPU:-default}"
} >"$raw"

nsides=3
round=1
while [ "$round" -le "$ROUNDS" ]; do
	echo "round $round/$ROUNDS" >&2
	for scen in $SCENARIOS; do
		# Rotate the side order by round: ours first, then second, then last.
		# shellcheck disable=SC2086
		set -- $SIDES
		k=$(((round - 1) % nsides))
		while [ "$k" -gt 0 ]; do
			first=$1
			shift
			set -- "$@" "$first"
			k=$((k - 1))
		done
		for side in "$@"; do
			log=$tmp/one.txt
			# shellcheck disable=SC2086
			if ! (cd bufreader && "$tmp/bufreader.test" -test.run='^$' \
				-test.bench="^BenchmarkFair\$/^$scen\$/^$side\$" \
				-test.benchtime="$BENCHTIME" -test.count=1 -test.benchmem $cpuflag) >"$log" 2>&1; then
				cat "$log" >&2
				die "BenchmarkFair/$scen/$side failed in round $round"
			fi
			grep -q "^BenchmarkFair/$scen/$side" "$log" || {
				cat "$log" >&2
				die "BenchmarkFair/$scen/$side produced no result (unknown scenario?)"
			}
			grep '^Benchmark' "$log" | sed "s/\$/	round=$round/" >>"$raw"
		done
	done
	round=$((round + 1))
done

[ -n "$OUT" ] && cp "$raw" "$OUT"

sed -n 's/^# //p' "$raw"
echo

# Parse "BenchmarkFair/<scen>/<side>-N  iters  v unit  v unit ...  round=R"
# and print the table. Plain POSIX awk (no gawk extensions).
status=0
awk -v scenarios="$SCENARIOS" -v rounds="$ROUNDS" '
function median(key,   n, i, j, t, a) {
	n = cnt[key]
	if (n == 0) return ""
	for (i = 1; i <= n; i++) a[i] = val[key, i]
	for (i = 2; i <= n; i++) {
		t = a[i]
		for (j = i - 1; j >= 1 && a[j] > t; j--) a[j + 1] = a[j]
		a[j + 1] = t
	}
	if (n % 2) return a[(n + 1) / 2]
	return (a[n / 2] + a[n / 2 + 1]) / 2
}
function fmtv(v) {
	if (v == "") return "n/a"
	if (v == 0) return "0"
	if (v >= 100) return sprintf("%.0f", v)
	if (v >= 1) return sprintf("%.2f", v)
	return sprintf("%.3g", v)
}
/^BenchmarkFair\// {
	name = $1
	sub(/-[0-9]+$/, "", name)
	split(name, part, "/")
	scen = part[2]; side = part[3]
	r = $NF; sub(/^round=/, "", r)
	for (i = 3; i + 1 <= NF - 1; i += 2) {
		key = scen SUBSEP side SUBSEP $(i + 1)
		val[key, ++cnt[key]] = $i
		per[scen, side, $(i + 1), r] = $i
	}
}
END {
	ns = split(scenarios, S, " ")
	printf "| scenario | ours ns/op | bufio-reused ns/op | bufio-peek ns/op | ours/reused (range) | ours/peek (range) | allocs/op ours/reused/peek | GC/Mop ours/reused/peek | ours copies/B | targets |\n"
	printf "|---|---|---|---|---|---|---|---|---|---|\n"
	missed = 0
	for (s = 1; s <= ns; s++) {
		sc = S[s]
		o = median(sc SUBSEP "ours" SUBSEP "ns/op")
		u = median(sc SUBSEP "bufio-reused" SUBSEP "ns/op")
		p = median(sc SUBSEP "bufio-peek" SUBSEP "ns/op")
		if (o == "" || u == "" || p == "") { printf "| %s | missing results |\n", sc; missed = 1; continue }
		ru = o / u; rp = o / p
		# Per-round paired ratios, to show how much the rounds agree.
		lu = 1e9; hu = 0; lp = 1e9; hp = 0
		for (r = 1; r <= rounds; r++) {
			a = per[sc, "ours", "ns/op", r]; b = per[sc, "bufio-reused", "ns/op", r]; c = per[sc, "bufio-peek", "ns/op", r]
			if (a != "" && b != "") { x = a / b; if (x < lu) lu = x; if (x > hu) hu = x }
			if (a != "" && c != "") { x = a / c; if (x < lp) lp = x; if (x > hp) hp = x }
		}
		ao = median(sc SUBSEP "ours" SUBSEP "allocs/op")
		au = median(sc SUBSEP "bufio-reused" SUBSEP "allocs/op")
		ap = median(sc SUBSEP "bufio-peek" SUBSEP "allocs/op")
		go_ = median(sc SUBSEP "ours" SUBSEP "GC/Mop")
		gu = median(sc SUBSEP "bufio-reused" SUBSEP "GC/Mop")
		gp = median(sc SUBSEP "bufio-peek" SUBSEP "GC/Mop")
		cp = median(sc SUBSEP "ours" SUBSEP "copies/B")
		t = ""
		if (ao + 0 != 0) t = t "allocs MISS "
		t = t (ru <= 0.95 ? "reused ok" : "reused MISS") ", " (rp <= 1.05 ? "peek ok" : "peek MISS")
		if (ao + 0 != 0 || ru > 0.95 || rp > 1.05) missed = 1
		printf "| %s | %s | %s | %s | %.3f (%.2f-%.2f) | %.3f (%.2f-%.2f) | %s / %s / %s | %s / %s / %s | %s | %s |\n", \
			sc, fmtv(o), fmtv(u), fmtv(p), ru, lu, hu, rp, lp, hp, \
			fmtv(ao), fmtv(au), fmtv(ap), fmtv(go_), fmtv(gu), fmtv(gp), fmtv(cp), t
	}
	printf "\nTargets: ours allocs/op = 0; ours/bufio-reused <= 0.95; ours/bufio-peek <= 1.05 (ratios of medians over %d rounds).\n", rounds
	exit missed ? 3 : 0
}' "$raw" || status=$?

if [ "$status" -ne 0 ] && [ "$status" -ne 3 ]; then
	die "summarising the results failed"
fi

if command -v benchstat >/dev/null 2>&1; then
	echo
	echo "benchstat (raw samples of all rounds):"
	sed 's/	round=[0-9]*$//' "$raw" | grep -v '^#' >"$tmp/bench.txt"
	benchstat "$tmp/bench.txt" || echo "benchstat failed (ignored)" >&2
fi

if [ "$status" -eq 3 ] && [ "$STRICT" = 1 ]; then
	echo "benchmark_bufreader: some targets were missed" >&2
	exit 3
fi
exit 0
