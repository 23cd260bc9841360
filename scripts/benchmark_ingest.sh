#!/usr/bin/env bash
# benchmark_ingest.sh: the one-command ingest benchmark (RTMP, RTSP, SRT).
#
# Builds bench/cmd/ingestbench (the separate bench/ module) and runs it.
# Each server runs alone inside the harness process on 127.0.0.1; the
# pushers are separate ffmpeg processes, killed (process group) after every
# row. The Markdown report goes to stdout and to $OUT. The method is in the
# report itself and in bench/README.md.
#
# Needs Go and ffmpeg (apt-get install ffmpeg). Run from anywhere in the
# repository. Settings (env vars):
#   PROTOCOLS=rtmp     rtmp, rtsp, srt (comma-separated)
#   TRANSPORTS=tcp,udp RTSP transports
#   CLIPS=low          low (720p ~2 Mbit/s), high (720p ~4.6 Mbit/s), legacy (360p)
#                      (encoded once, cached in ~/.cache/zerocopy-ingestbench)
#   NS=8,32            pusher counts
#   DURATION=20s       steady window per row
#   LATE=              e.g. 60s: one run of that length per row, early (5-15 s)
#                      and late (40 s to end-5 s) windows instead of the steady one
#   MODES=paced,unpaced
#   SERVERS=           default: every server of each protocol (floor,
#                      floor-retain, gortmplib, gortmplib-gop, gortsplib, gosrt,
#                      gosrt-retain, ours)
#   OUT=docs/bench-ingest.md
#   STRICT=1           exit 3 when a paced row of ours misses a target
#   QUICK=1            smoke mode: N=1, 3 s windows, 1 s warm-up, paced, a
#                      4 s legacy clip, report to a temp file; about 10 s a row
# Extra arguments are passed to ingestbench (e.g. -cpuprofile /tmp/cpu,
# -json docs/bench/ingest.json).
# Durations on 2 cores (rows x (window + ~5 s); clip encodes ~1 min once):
#   RTMP N=32 both clips early+late: PROTOCOLS=rtmp CLIPS=low,high NS=32 MODES=paced LATE=60s
#     10 rows x ~70 s = ~12 min
#   RTSP: PROTOCOLS=rtsp NS=8,32 MODES=paced   16 rows x ~27 s = ~7 min
#   SRT:  PROTOCOLS=srt NS=8,32 MODES=paced     8 rows x ~27 s = ~4 min
# Exit status: ingestbench's (0 ok, 1 failure, 3 target missed under STRICT=1).

set -eu

QUICK=${QUICK:-0}
PROTOCOLS=${PROTOCOLS:-rtmp}
TRANSPORTS=${TRANSPORTS:-tcp,udp}
CLIPS=${CLIPS:-low}
NS=${NS:-8,32}
DURATION=${DURATION:-20s}
LATE=${LATE:-}
MODES=${MODES:-paced,unpaced}
SERVERS=${SERVERS:-}
OUT=${OUT:-docs/bench-ingest.md}
STRICT=${STRICT:-0}
extra=""
if [ "$QUICK" = 1 ]; then
	NS=1 DURATION=3s MODES=paced CLIPS=legacy LATE=""
	OUT=$(mktemp "${TMPDIR:-/tmp}/benchingest-quick.XXXXXX.md")
	extra="-warmup 1s -clip-seconds 4"
fi

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
late=""
[ -n "$LATE" ] && late="-late $LATE"
# shellcheck disable=SC2086
"$tmp/ingestbench" -protocols "$PROTOCOLS" -transports "$TRANSPORTS" -clips "$CLIPS" -n "$NS" -d "$DURATION" \
	-modes "$MODES" -servers "$SERVERS" -out "$OUT" $late $extra $strict "$@" || status=$?
if [ "$status" -eq 0 ] || [ "$status" -eq 3 ]; then
	echo "benchmark_ingest: report written to $OUT" >&2
fi
exit "$status"
