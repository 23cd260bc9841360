#!/usr/bin/env bash
# benchmark_ingest.sh: the one-command RTMP ingest benchmark.
#
# Builds bench/cmd/ingestbench (the separate bench/ module) and runs it with
# the issue's settings: N = 8 and 32 ffmpeg pushers, a 20 s measured window
# per row, paced (-re) and unpaced, for the TCP read floor, a minimal
# gortmplib server and ours (the embedded host with the zerocopy plugin).
# Each server runs inside the harness process on 127.0.0.1:0; the pushers
# are separate ffmpeg processes, killed (process group) after every row.
# The Markdown report goes to stdout and to docs/bench-ingest.md. The method
# is described in the report itself and in bench/README.md.
#
# Needs Go and ffmpeg (apt-get install ffmpeg). Run from anywhere in the
# repository. Settings (env vars):
#   NS=8,32            pusher counts
#   DURATION=20s       measured window per row
#   MODES=paced,unpaced
#   SERVERS=floor,gortmplib,ours
#   OUT=docs/bench-ingest.md
#   STRICT=1           exit 3 when a paced row of ours misses a target
# Extra arguments are passed to ingestbench (e.g. -cpuprofile /tmp/cpu).
# Defaults take about 7 minutes on 2 cores (12 rows of ~25 s, plus the
# clip encode). Exit status: ingestbench's (0 ok, 1 failure, 3 target
# missed under STRICT=1).

set -eu

NS=${NS:-8,32}
DURATION=${DURATION:-20s}
MODES=${MODES:-paced,unpaced}
SERVERS=${SERVERS:-floor,gortmplib,ours}
OUT=${OUT:-docs/bench-ingest.md}
STRICT=${STRICT:-0}

die() {
	echo "benchmark_ingest: $*" >&2
	exit 1
}

command -v go >/dev/null 2>&1 || die "go is not on PATH"
command -v ffmpeg >/dev/null 2>&1 || die "ffmpeg is not on PATH (apt-get install ffmpeg)"

cd "$(dirname "$0")/.."
[ -f bench/go.mod ] || die "run from the zerocopy repository (no bench/go.mod here)"

tmp=$(mktemp -d "${TMPDIR:-/tmp}/benchingest.XXXXXX")
trap 'rm -rf "$tmp"' EXIT INT TERM

# Build first, so no compile competes with the measurement.
echo "building bench/cmd/ingestbench..." >&2
(cd bench && go build -o "$tmp/ingestbench" ./cmd/ingestbench) || die "building the harness failed"

mkdir -p "$(dirname "$OUT")"
strict=""
[ "$STRICT" = 1 ] && strict="-strict"

status=0
# shellcheck disable=SC2086
"$tmp/ingestbench" -n "$NS" -d "$DURATION" -modes "$MODES" -servers "$SERVERS" -out "$OUT" $strict "$@" || status=$?
if [ "$status" -eq 0 ] || [ "$status" -eq 3 ]; then
	echo "benchmark_ingest: report written to $OUT" >&2
fi
exit "$status"
