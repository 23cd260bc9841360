#!/usr/bin/env bash
# benchmark_all.sh: the whole benchmark report in one command.
#
# Runs every benchmark, one after the other, on a quiet machine:
#   1. bufreader against bufio     (scripts/benchmark_bufreader.sh)
#   2. ingest per protocol         (scripts/benchmark_ingest.sh: RTMP, RTSP over TCP and UDP, SRT)
#   3. HTTP-FLV fan-out            (go test -run '^$' -bench FanoutHTTPFLV100 -benchtime 20000x ./server)
# writes the results as JSON to docs/bench/ (bufreader.json, ingest.json,
# fanout.json; each records the machine, the Go version and the date), and
# regenerates from them the SVG charts and docs/bench/tables.md with
# bench/cmd/charts. When README.md has the lines
#   <!-- bench-tables:start -->
#   <!-- bench-tables:end -->
# the tables (with the charts above them) are put between them.
# It prints a progress line per step with an estimate of the time left.
#
# Needs Go and ffmpeg. Run from anywhere in the repository. Settings:
#   QUICK=1     short runs to check the pipeline (1 round, 2 pushers, 3 s
#               windows, 500 fan-out ops; about 1-2 minutes). The results go
#               to a temporary directory (printed), never to docs/bench, and
#               README.md is not touched.
#   DRY_RUN=1   print the steps and their commands, run nothing
#   OUTDIR=dir  where the JSON, charts and tables go (default docs/bench)
# The full run takes about 8 minutes on 2 cores. Exit status: 0 when every
# benchmark ran (a missed target is reported by the benchmark, not an
# error here), 1 on any failure.

set -eu

QUICK=${QUICK:-0}
DRY_RUN=${DRY_RUN:-0}

die() {
	echo "benchmark_all: $*" >&2
	exit 1
}

command -v go >/dev/null 2>&1 || die "go is not on PATH"
cd "$(dirname "$0")/.."
[ -f bench/go.mod ] || die "run from the zerocopy repository (no bench/go.mod here)"
root=$(pwd)

tmp=$(mktemp -d "${TMPDIR:-/tmp}/benchall.XXXXXX")
trap 'rm -rf "$tmp"' EXIT INT TERM

if [ "$QUICK" = 1 ]; then
	OUTDIR=${OUTDIR:-$(mktemp -d "${TMPDIR:-/tmp}/benchall-quick.XXXXXX")}
	BR_ENV="ROUNDS=1 BENCHTIME=50ms"
	ING_ENV="PROTOCOLS=rtmp,rtsp,srt NS=2 DURATION=3s MODES=paced OUT=$tmp/ingest.md"
	ING_ARGS="-warmup 1s -clip-seconds 4"
	FAN_TIME=500x
	# Estimated seconds per step: build, bufreader, ingest, fan-out, charts.
	EST="30 25 60 40 5"
else
	OUTDIR=${OUTDIR:-docs/bench}
	BR_ENV=""
	ING_ENV="PROTOCOLS=rtmp,rtsp,srt NS=8,32 MODES=paced"
	ING_ARGS=""
	FAN_TIME=20000x
	# Ingest: 5 RTMP + 4x2 RTSP (TCP, UDP) + 4 SRT servers at N=8 and 32, ~27 s a row.
	EST="30 90 920 60 5"
fi
mkdir -p "$OUTDIR"
OUTDIR=$(cd "$OUTDIR" && pwd)
charts=$tmp/charts

# shellcheck disable=SC2086
set -- $EST
est_build=$1 est_br=$2 est_ing=$3 est_fan=$4 est_charts=$5
total=$((est_build + est_br + est_ing + est_fan + est_charts))
start=$(date +%s)
done_est=0
step=0
nsteps=5

fmt_secs() {
	s=$1
	[ "$s" -lt 0 ] && s=0
	if [ "$s" -ge 60 ]; then
		printf '%dm%02ds' $((s / 60)) $((s % 60))
	else
		printf '%ds' "$s"
	fi
}

# begin NAME EST: prints "[k/5] NAME (about EST; about LEFT left)". The
# time left is the remaining steps' estimates, scaled (by 0.5x to 2x) by how
# the steps so far went against theirs.
begin() {
	step=$((step + 1))
	now=$(date +%s)
	elapsed=$((now - start))
	left=$((total - done_est))
	if [ "$done_est" -gt 0 ] && [ "$elapsed" -gt 0 ]; then
		# Scale by at most 2x either way: one fast build says little.
		scaled=$((left * elapsed / done_est))
		[ "$scaled" -gt $((left * 2)) ] && scaled=$((left * 2))
		[ "$scaled" -lt $((left / 2)) ] && scaled=$((left / 2))
		left=$scaled
	fi
	echo "benchmark_all: [$step/$nsteps] $1 (about $(fmt_secs "$2"); about $(fmt_secs "$left") left, $(fmt_secs "$elapsed") so far)" >&2
}

finish() { done_est=$((done_est + $1)); }

# run CMD...: runs (or, with DRY_RUN=1, prints) a command.
run() {
	if [ "$DRY_RUN" = 1 ]; then
		echo "  + $*" >&2
		return 0
	fi
	"$@"
}

echo "benchmark_all: $(go version) on $(nproc 2>/dev/null || echo '?') cores ($(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo 2>/dev/null | head -n 1)), $(date -u '+%Y-%m-%d %H:%M UTC'); results to $OUTDIR" >&2
[ "$QUICK" = 1 ] && echo "benchmark_all: QUICK=1: short runs, figures not comparable with the committed ones" >&2

begin "build the charts program and check ffmpeg" "$est_build"
command -v ffmpeg >/dev/null 2>&1 || [ "$DRY_RUN" = 1 ] || die "ffmpeg is not on PATH (apt-get install ffmpeg)"
run sh -c "cd bench && go build -o '$charts' ./cmd/charts" || die "building bench/cmd/charts failed"
finish "$est_build"

begin "bufreader against bufio (scripts/benchmark_bufreader.sh)" "$est_br"
# shellcheck disable=SC2086
run env $BR_ENV OUT="$tmp/bufreader.txt" sh scripts/benchmark_bufreader.sh >"$tmp/bufreader.md" || die "the bufreader benchmark failed (output: $tmp/bufreader.md)"
run "$charts" -import-bufreader "$tmp/bufreader.txt" -o "$OUTDIR/bufreader.json" || die "importing the bufreader results failed"
finish "$est_br"

begin "ingest per protocol against its peers and floors (scripts/benchmark_ingest.sh)" "$est_ing"
status=0
# shellcheck disable=SC2086
run env $ING_ENV bash scripts/benchmark_ingest.sh -json "$OUTDIR/ingest.json" $ING_ARGS >"$tmp/ingest-report.md" || status=$?
[ "$status" -eq 0 ] || [ "$status" -eq 3 ] || die "the ingest benchmark failed (status $status)"
finish "$est_ing"

begin "HTTP-FLV fan-out (BenchmarkFanoutHTTPFLV100, -benchtime $FAN_TIME)" "$est_fan"
run sh -c "go test -run '^\$' -bench FanoutHTTPFLV100 -benchtime $FAN_TIME ./server >'$tmp/fanout.txt'" || {
	cat "$tmp/fanout.txt" >&2 || true
	die "the fan-out benchmark failed"
}
run "$charts" -import-fanout "$tmp/fanout.txt" -benchtime "$FAN_TIME" -o "$OUTDIR/fanout.json" || die "importing the fan-out results failed"
finish "$est_fan"

begin "charts and tables (bench/cmd/charts)" "$est_charts"
readme=""
if [ "$QUICK" != 1 ] && [ "$OUTDIR" = "$root/docs/bench" ] &&
	grep -q '^<!-- bench-tables:start -->$' README.md && grep -q '^<!-- bench-tables:end -->$' README.md; then
	readme="-readme $root/README.md"
fi
# shellcheck disable=SC2086
run "$charts" -dir "$OUTDIR" $readme || die "drawing the charts failed"
finish "$est_charts"

echo "benchmark_all: done in $(fmt_secs $(($(date +%s) - start))): $OUTDIR/*.json, *.svg and tables.md${readme:+; README.md tables updated}" >&2
