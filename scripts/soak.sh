#!/usr/bin/env bash
# Soak and abuse run of the embedded host (cmd/zerocopy), everything on
# 127.0.0.1. It builds the server once, pre-encodes one H.264+AAC clip, then
# for T minutes runs N looped ffmpeg publishers and M ffmpeg players (half
# HTTP-FLV, half RTMP play), kills and restarts random publishers and players,
# and opens bursts of junk connections to the RTMP and HTTP ports. It samples
# the server's RSS, goroutines, open FDs and allocator bytes in use, and
# writes a markdown report with a pass/fail summary (default docs/soak.md).
#
# Usage: scripts/soak.sh [-n publishers] [-m players] [-t minutes] [-o report.md]
# Environment (flags win): N=8 M=32 T=10 OUT=docs/soak.md
#   SAMPLE_EVERY=s  seconds between samples (default T*60/30, 2..10)
#   CHAOS_EVERY=s   seconds between kills of a random publisher or player (3)
#   JUNK_EVERY=s    seconds between junk bursts (15)
#   JUNK_COUNT=n    junk connections per burst (50)
#   CLIP_KBPS=k     video bitrate of the clip (2000); CLIP_SECONDS=s its length (20)
#   KEEP=1          keep the work directory (logs, framemd5 files)
# Every other variable in the environment reaches the server, so config keys
# can be overridden as usual (ZEROCOPY_RTMP_..., GLOBAL_...). The HTTP and
# RTMP listen addresses are always set to free 127.0.0.1 ports.
#
# Needs: go, ffmpeg, ffprobe, curl, ss, awk. Junk connections come from
# 127.0.0.2-127.0.0.9 (curl --interface), so per-IP caps refuse junk, not the
# real clients on 127.0.0.1. Exit status: 0 when every check passed.
set -uo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

N=${N:-8}
M=${M:-32}
T=${T:-10}
OUT=${OUT:-docs/soak.md}
while getopts "n:m:t:o:h" opt; do
  case $opt in
    n) N=$OPTARG ;;
    m) M=$OPTARG ;;
    t) T=$OPTARG ;;
    o) OUT=$OPTARG ;;
    *) sed -n '2,22p' "$0" | sed 's/^# \{0,1\}//'; exit 2 ;;
  esac
done
for v in N M T; do
  [[ ${!v} =~ ^[0-9]+$ ]] && ((${!v} > 0)) || { echo "soak: $v must be a positive integer, got '${!v}'" >&2; exit 2; }
done
((M >= 2)) || { echo "soak: M must be at least 2 (two steady players)" >&2; exit 2; }
DURATION=$((T * 60))
SAMPLE_EVERY=${SAMPLE_EVERY:-$(((DURATION / 30) < 2 ? 2 : ((DURATION / 30) > 10 ? 10 : DURATION / 30)))}
CHAOS_EVERY=${CHAOS_EVERY:-3}
JUNK_EVERY=${JUNK_EVERY:-15}
JUNK_COUNT=${JUNK_COUNT:-50}
CLIP_KBPS=${CLIP_KBPS:-2000}
CLIP_SECONDS=${CLIP_SECONDS:-20}
FPS=25
GOP=$((2 * FPS)) # a keyframe every 2 s

for tool in go ffmpeg ffprobe curl ss awk; do
  command -v "$tool" >/dev/null || { echo "soak: $tool not found on PATH" >&2; exit 2; }
done

W=$(mktemp -d /tmp/zerocopy-soak.XXXXXX)
STOP=$W/stop
SERVER_PID=
HTTP_PORT= RTMP_PORT= CHAOS_PID= JUNK_PID=
BG_PIDS=()
log() { printf '%s soak: %s\n' "$(date +%T)" "$*" >&2; }
# nap SECONDS: a sleep that a TERM trap interrupts at once (and can kill).
nap() {
  sleep "$1" &
  NAP=$!
  wait "$NAP"
}
NAP=

# cleanup kills everything this script started, by pid: supervisor loops
# and background jobs first (so nothing restarts), then every ffmpeg whose
# pid file is left, then the server.
cleanup() {
  local rc=$?
  touch "$STOP" 2>/dev/null
  trap - EXIT INT TERM
  local p
  for p in "${BG_PIDS[@]}" $(jobs -p); do kill "$p" 2>/dev/null; done
  for f in "$W"/pid.*; do
    [[ -e $f ]] && signal_client KILL "${f#"$W"/pid.}"
  done
  declare -F kill_junk >/dev/null && kill_junk
  if [[ -n $SERVER_PID ]] && kill -0 "$SERVER_PID" 2>/dev/null; then
    kill -TERM "$SERVER_PID" 2>/dev/null
    for _ in $(seq 50); do kill -0 "$SERVER_PID" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$SERVER_PID" 2>/dev/null
  fi
  wait 2>/dev/null
  if [[ ${KEEP:-0} == 1 ]]; then log "work directory kept: $W"; else rm -rf "$W"; fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Bound the whole run: setup, T minutes, and the drain at the end.
(
  trap 'kill $NAP 2>/dev/null; exit 0' TERM
  nap $((DURATION + 420)) && log "watchdog: run exceeded its bound, stopping" && kill -TERM $$
) &
WATCHDOG=$!
BG_PIDS+=("$WATCHDOG")

free_port() {
  local p used
  used=$(ss -Htan | awk '{n=split($4,a,":"); print a[n]}' | sort -u)
  for _ in $(seq 200); do
    p=$((20000 + RANDOM % 40000))
    grep -qx "$p" <<<"$used" || { echo "$p"; return; }
  done
  echo "soak: no free port found" >&2
  return 1
}

# --- build and clip ----------------------------------------------------------
log "building ./cmd/zerocopy"
go build -o "$W/zerocopy" ./cmd/zerocopy || { echo "soak: go build ./cmd/zerocopy failed" >&2; exit 1; }

log "encoding the ${CLIP_SECONDS}s clip (H.264 ${CLIP_KBPS} kb/s, GOP ${GOP} frames, AAC 128 kb/s)"
CLIP=$W/clip.flv
ffmpeg -nostdin -hide_banner -loglevel error \
  -f lavfi -i "testsrc2=size=1280x720:rate=$FPS" -f lavfi -i "sine=frequency=440:sample_rate=48000" \
  -t "$CLIP_SECONDS" -c:v libx264 -preset veryfast -pix_fmt yuv420p \
  -b:v "${CLIP_KBPS}k" -maxrate "${CLIP_KBPS}k" -bufsize "$((2 * CLIP_KBPS))k" \
  -g "$GOP" -keyint_min "$GOP" -sc_threshold 0 \
  -c:a aac -b:a 128k -f flv "$CLIP" || { echo "soak: clip encoding failed" >&2; exit 1; }
CLIP_BPS=$(ffprobe -v error -show_entries format=bit_rate -of csv=p=0 "$CLIP")
SRC_MD5=$W/source.md5
ffmpeg -nostdin -hide_banner -loglevel error -i "$CLIP" -map 0:v -c copy -f framemd5 "$SRC_MD5"
SRC_FRAMES=$(grep -vc '^#' "$SRC_MD5")
SRC_DUPS=$(grep -v '^#' "$SRC_MD5" | awk -F', *' '{print $6}' | sort | uniq -d | wc -l)

# --- server ------------------------------------------------------------------
# The RTMP per-IP cap: room for every real client on 127.0.0.1 (and
# restarts), and each junk burst floods past it from 127.0.0.2.
export ZEROCOPY_RTMP_MAXCONNECTIONSPERIP=${ZEROCOPY_RTMP_MAXCONNECTIONSPERIP:-$((N + M + 8))}
CAP=$ZEROCOPY_RTMP_MAXCONNECTIONSPERIP
HTTP_PORT=$(free_port) && RTMP_PORT=$(free_port) || exit 1
while [[ $RTMP_PORT == "$HTTP_PORT" ]]; do RTMP_PORT=$(free_port) || exit 1; done
log "starting the server: http 127.0.0.1:$HTTP_PORT rtmp 127.0.0.1:$RTMP_PORT"
GLOBAL_HTTP_LISTENADDR=127.0.0.1:$HTTP_PORT ZEROCOPY_RTMP_LISTENADDR=127.0.0.1:$RTMP_PORT \
  "$W/zerocopy" -c "$ROOT/config.yaml" >"$W/server.log" 2>&1 &
SERVER_PID=$!
METRICS=http://127.0.0.1:$HTTP_PORT/metrics
for _ in $(seq 100); do
  curl -sf -o /dev/null --max-time 1 "$METRICS" && break
  kill -0 "$SERVER_PID" 2>/dev/null || { echo "soak: the server exited at start:" >&2; tail -20 "$W/server.log" >&2; exit 1; }
  sleep 0.1
done
curl -sf -o /dev/null --max-time 1 "$METRICS" || { echo "soak: /metrics not served" >&2; exit 1; }

# metric NAME: the sum of every series of NAME in one scrape (file $1), or NA.
metric() {
  awk -v n="$2" '$1 == n || index($1, n "{") == 1 { s += $NF; f = 1 } END { if (f) printf "%.0f\n", s; else print "NA" }' "$1"
}
scrape() { curl -s --max-time 3 "$METRICS" >"$1" 2>/dev/null || : >"$1"; }
rss_kb() { awk '/^VmRSS:/ {print $2}' "/proc/$SERVER_PID/status" 2>/dev/null || echo NA; }
fds() { ls "/proc/$SERVER_PID/fd" 2>/dev/null | wc -l; }
# ours PID: PID is one of this run's ffmpeg clients (its command line names
# one of this run's ports), so a pid file never signals a recycled pid.
ours() {
  local c
  c=$({ tr '\0' ' ' <"/proc/$1/cmdline"; } 2>/dev/null) || return 1
  [[ $c == *"127.0.0.1:$RTMP_PORT"* || $c == *"127.0.0.1:$HTTP_PORT"* ]]
}
alive() { local p; p=$(cat "$W/pid.$1" 2>/dev/null) && [[ -n $p ]] && ours "$p"; }
signal_client() { # SIGNAL NAME
  local p
  p=$(cat "$W/pid.$2" 2>/dev/null) && [[ -n $p ]] && ours "$p" && kill -"$1" "$p" 2>/dev/null
}
# kill_junk ends the junk connections still open: each runs under its own
# timeout, which leads a process group of its own.
kill_junk() {
  local p
  for p in $(cat "$W/junkpids" 2>/dev/null); do
    [[ $(cat "/proc/$p/comm" 2>/dev/null) == timeout ]] && kill -TERM -- "-$p" 2>/dev/null
  done
  : >"$W/junkpids" 2>/dev/null
}
num() { [[ $1 =~ ^[0-9]+$ ]]; }
count_alive() { local n=0 f; for f in "$W"/pid."$1"*; do [[ -e $f ]] && alive "${f#"$W"/pid.}" && n=$((n + 1)); done; echo $n; }

scrape "$W/m0"
BASE_G=$(metric "$W/m0" go_goroutines)
BASE_FD=$(fds)
BASE_RSS=$(rss_kb)

# --- clients -----------------------------------------------------------------
FF=(ffmpeg -nostdin -hide_banner -loglevel error)
pub_cmd() { echo "${FF[*]} -re -stream_loop -1 -i $CLIP -c copy -f flv rtmp://127.0.0.1:$RTMP_PORT/live/s$1"; }
# Player j reads stream s((j/2) mod N): even j over HTTP-FLV, odd j over RTMP.
play_url() {
  local s=$(((${1} / 2) % N))
  if (($1 % 2 == 0)); then echo "http://127.0.0.1:$HTTP_PORT/live/s$s.flv"; else echo "rtmp://127.0.0.1:$RTMP_PORT/live/s$s"; fi
}

# supervise NAME CMD...: run CMD until the run stops, restarting it 0.5-2 s
# after it ends (killed by the chaos loop, refused, or its stream gone).
supervise() {
  local name=$1 child=
  shift
  trap 'kill -KILL $child 2>/dev/null; kill $NAP 2>/dev/null; rm -f "$W/pid.$name"; exit 0' TERM
  while [[ ! -e $STOP ]]; do
    "$@" >>"$W/log.$name" 2>&1 &
    child=$!
    echo $child >"$W/pid.$name"
    wait $child
    echo "$(date +%s) exit $?" >>"$W/exits.$name"
    [[ -e $STOP ]] && break
    nap "$((RANDOM % 3)).$((RANDOM % 10))"
  done
  rm -f "$W/pid.$name"
}

start_once() { # NAME CMD...: a steady client, never restarted
  local name=$1
  shift
  "$@" >>"$W/log.$name" 2>&1 &
  echo $! >"$W/pid.$name"
}

T0=$(date +%s)
log "starting $N publishers (s0 steady) and $M players (p0 HTTP-FLV and p1 RTMP on s0 steady); $T min"
# shellcheck disable=SC2046
start_once pub0 $(pub_cmd 0)
for ((i = 1; i < N; i++)); do
  # shellcheck disable=SC2046
  supervise "pub$i" $(pub_cmd "$i") 2>>"$W/supervise.log" &
  BG_PIDS+=($!)
done
sleep 3 # let s0 publish before its steady players join
start_once play0 "${FF[@]}" -rw_timeout 15000000 -i "$(play_url 0)" -map 0:v -c copy -f framemd5 "$W/recv.play0.md5"
start_once play1 "${FF[@]}" -rw_timeout 15000000 -i "$(play_url 1)" -map 0:v -c copy -f framemd5 "$W/recv.play1.md5"
for ((j = 2; j < M; j++)); do
  supervise "play$j" "${FF[@]}" -rw_timeout 15000000 -i "$(play_url "$j")" -c copy -f null - 2>>"$W/supervise.log" &
  BG_PIDS+=($!)
done

# --- chaos: kill a random publisher (not s0) or player (not p0/p1) -----------
# After each publisher kill, the allocator bytes in use are sampled before
# and 2 s after, with the number of live publishers.
chaos() {
  local victim sig sigs=(KILL TERM INT) before after
  trap 'kill $NAP 2>/dev/null; exit 0' TERM
  while [[ ! -e $STOP ]]; do
    nap "$CHAOS_EVERY"
    [[ -e $STOP ]] && break
    if ((N > 1 && RANDOM % 3 == 0)); then victim=pub$((1 + RANDOM % (N - 1))); elif ((M > 2)); then victim=play$((2 + RANDOM % (M - 2))); else continue; fi
    alive "$victim" || continue
    sig=${sigs[RANDOM % 3]}
    scrape "$W/mk"
    before=$(metric "$W/mk" zerocopy_allocator_in_use_bytes)
    signal_client "$sig" "$victim" || continue
    echo "$victim" >>"$W/kills.$sig"
    if [[ $victim == pub* ]]; then
      nap 2
      scrape "$W/mk"
      after=$(metric "$W/mk" zerocopy_allocator_in_use_bytes)
      echo "$(($(date +%s) - T0)) $victim $sig $before $after $(count_alive pub)" >>"$W/pubkills"
    fi
  done
}
chaos &
CHAOS_PID=$!
BG_PIDS+=("$CHAOS_PID")

# --- junk: bursts of bad connections to both ports -----------------------------
junk_one() { # KIND PORT SOURCE-IP HOLD
  local gen
  case $1 in
    silent) gen=(true) ;;                                                   # connect, send nothing
    random) gen=(head -c $((1 + RANDOM % 8192)) /dev/urandom) ;;            # random bytes
    c0junk) gen=(sh -c 'printf "\003"; head -c 1536 /dev/urandom; head -c 4096 /dev/urandom') ;; # RTMP C0+C1, then junk
    partial) gen=(printf 'GET /live/s0.flv HTTP/1.1\r\nHost: x\r\nX-Slow: ') ;; # header never ends
    bigline) gen=(sh -c 'printf "GET /"; head -c 65536 /dev/zero | tr "\0" a; printf " HTTP/1.1\r\n\r\n"') ;;
  esac
  { "${gen[@]}"; sleep "$4"; } 2>/dev/null | curl -s --interface "$3" "telnet://127.0.0.1:$2" >/dev/null 2>&1
}
export -f junk_one
junk() {
  local i ip hold kinds_rtmp=(silent random c0junk) kinds_http=(silent random partial bigline) total=0
  trap 'kill $NAP 2>/dev/null; kill_junk; exit 0' TERM
  while [[ ! -e $STOP ]]; do
    nap "$JUNK_EVERY"
    [[ -e $STOP ]] && break
    for ((i = 0; i < JUNK_COUNT; i++)); do
      ip=127.0.0.$((2 + i % 8)) hold=$((1 + RANDOM % 8))
      if ((i % 2 == 0)); then
        timeout $((hold + 3)) bash -c 'junk_one "$@"' _ "${kinds_rtmp[RANDOM % 3]}" "$RTMP_PORT" "$ip" "$hold" &
      elif ((i % 10 == 9)); then # a player of a stream that does not exist
        timeout 15 curl -s --interface "$ip" --max-time 12 -o /dev/null "http://127.0.0.1:$HTTP_PORT/live/nope$i.flv" &
      else
        timeout $((hold + 3)) bash -c 'junk_one "$@"' _ "${kinds_http[RANDOM % 4]}" "$HTTP_PORT" "$ip" "$hold" &
      fi
      echo $! >>"$W/junkpids"
    done
    for ((i = 0; i < CAP + 10; i++)); do # past the per-IP cap: at least 10 refused
      timeout 4 curl -s --interface 127.0.0.2 "telnet://127.0.0.1:$RTMP_PORT" </dev/null >/dev/null 2>&1 &
      echo $! >>"$W/junkpids"
    done
    total=$((total + JUNK_COUNT + CAP + 10))
    echo "$total" >"$W/junk.total"
    touch "$W/junk.active"
    wait # every connection of this burst ends within 15 s (its timeout)
    rm -f "$W/junk.active"
    : >"$W/junkpids"
  done
}
junk &
JUNK_PID=$!
BG_PIDS+=("$JUNK_PID")

# --- sampling ------------------------------------------------------------------
printf 't\trss_kb\tgoroutines\tfds\tinuse\tpubs\tplayers\trefused\tdrops\tjunk\n' >"$W/samples.tsv"
SERVER_DIED=
while (($(date +%s) - T0 < DURATION)); do
  sleep "$SAMPLE_EVERY"
  if ! kill -0 "$SERVER_PID" 2>/dev/null; then SERVER_DIED=1; log "the server died"; break; fi
  scrape "$W/ms"
  junk_now=no
  [[ -e $W/junk.active ]] && junk_now=yes
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$(($(date +%s) - T0))" "$(rss_kb)" \
    "$(metric "$W/ms" go_goroutines)" "$(fds)" "$(metric "$W/ms" zerocopy_allocator_in_use_bytes)" \
    "$(count_alive pub)" "$(count_alive play)" "$(metric "$W/ms" zerocopy_connections_refused_total)" \
    "$(metric "$W/ms" zerocopy_subscriber_drops_total)" "$junk_now" >>"$W/samples.tsv"
done

# --- stop: publishers end gracefully (SIGINT), players see the end of stream ---
log "stopping"
touch "$STOP" # supervisors restart nothing from now on
STEADY_ALIVE=
for c in pub0 play0 play1; do alive "$c" && STEADY_ALIVE+="$c "; done
kill "$CHAOS_PID" "$JUNK_PID" 2>/dev/null
signal_all() { # SIGNAL PREFIX
  local f
  for f in "$W"/pid."$2"*; do [[ -e $f ]] && signal_client "$1" "${f#"$W"/pid.}"; done
}
signal_all INT pub # ffmpeg unpublishes and closes
for _ in $(seq 100); do (($(count_alive pub) == 0)) && break; sleep 0.1; done
signal_all KILL pub
for _ in $(seq 150); do (($(count_alive play) == 0)) && break; sleep 0.1; done # players end on EOF
signal_all INT play
sleep 1
signal_all KILL play
for p in "${BG_PIDS[@]}"; do [[ $p == "$WATCHDOG" ]] || kill "$p" 2>/dev/null; done
# Junk and waiting players time out within 15 s; wait for the server to let go.
END_INUSE=NA END_G=NA END_FD=NA END_REFUSED=NA END_DROPS=NA
for _ in $(seq 40); do
  kill -0 "$SERVER_PID" 2>/dev/null || { SERVER_DIED=1; break; }
  scrape "$W/me"
  END_INUSE=$(metric "$W/me" zerocopy_allocator_in_use_bytes)
  END_G=$(metric "$W/me" go_goroutines)
  END_FD=$(fds)
  [[ $END_INUSE == 0 ]] && num "$END_G" && ((END_G <= BASE_G + 2 && END_FD <= BASE_FD + 2)) && break
  sleep 0.5
done
END_RSS=$(rss_kb)
END_REFUSED=$(metric "$W/me" zerocopy_connections_refused_total)
END_DROPS=$(metric "$W/me" zerocopy_subscriber_drops_total)
END_PUBLISHES=$(metric "$W/me" zerocopy_publishes_total)
REFUSED_SERIES=$(grep -E '^zerocopy_connections_refused_total[{ ]' "$W/me" | grep -v ' 0$' | sed 's/^zerocopy_connections_refused_total//' | tr '\n' ' ')
PANICS=$(grep -c -E '^panic:|fatal error:|DATA RACE' "$W/server.log")
ELAPSED=$(($(date +%s) - T0))

# --- analysis ----------------------------------------------------------------
# plateau COLUMN SLACK: the max over the last third of the samples against
# the max over the middle third (+10% and SLACK). Prints "mid last verdict".
# Goroutines and FDs (QUIET=1) use only the samples taken while no junk
# burst was in flight (a burst holds up to JUNK_COUNT+CAP+10 connections);
# the end-of-run check against the idle baseline covers every connection.
plateau() {
  awk -F'\t' -v c="$1" -v slack="$2" -v quiet="${3:-0}" 'NR > 1 && $c != "NA" && !(quiet && $10 == "yes") { v[++n] = $c }
    END {
      if (n < 3) { print "- - too-few-samples"; exit }
      a = int(n / 3); b = int(2 * n / 3)
      for (i = a + 1; i <= b; i++) if (v[i] > mid) mid = v[i]
      for (i = b + 1; i <= n; i++) if (v[i] > last) last = v[i]
      print mid, last, (last <= mid * 1.10 + slack ? "pass" : "FAIL")
    }' "$W/samples.tsv"
}
# compare RECV: received video packets against the source's framemd5, cyclic
# (the publisher loops the clip). Prints "received lost gaps unknown".
compare() {
  [[ -s $1 ]] || { echo "0 NA NA NA"; return; }
  awk -F', *' 'NR == FNR { if ($0 !~ /^#/ && NF >= 6) { pos[$6] = n++ }; next }
    $0 ~ /^#/ || NF < 6 { next }
    { got++
      if (!($6 in pos)) { unknown++; next }
      p = pos[$6]
      if (started) { e = (last + 1) % n; if (p != e) { lost += (p - e + n) % n; gaps++ } }
      started = 1; last = p }
    END { printf "%d %d %d %d\n", got, lost + 0, gaps + 0, unknown + 0 }' "$SRC_MD5" "$1"
}

read -r RSS_MID RSS_LAST RSS_V < <(plateau 2 $((16 * 1024)))
read -r G_MID G_LAST G_V < <(plateau 3 20 1)
read -r FD_MID FD_LAST FD_V < <(plateau 4 20 1)
read -r IU_MID IU_LAST IU_V < <(plateau 5 $((4 * 1024 * 1024)))
read -r R0 L0 GAP0 U0 < <(compare "$W/recv.play0.md5")
read -r R1 L1 GAP1 U1 < <(compare "$W/recv.play1.md5")
MIN_FRAMES=$(((DURATION - 10) * FPS / 2))
frames_verdict() { # received lost unknown
  [[ $2 == 0 && $3 == 0 && $1 -ge $MIN_FRAMES ]] && echo pass || echo FAIL
}
V0=$(frames_verdict "$R0" "$L0" "$U0")
V1=$(frames_verdict "$R1" "$L1" "$U1")
END_V=FAIL
[[ $END_INUSE == 0 ]] && END_V=pass
LEAK_V=FAIL
num "$END_G" && num "$BASE_G" && ((END_G <= BASE_G + 2 && END_FD <= BASE_FD + 2)) && LEAK_V=pass
SERVER_V=pass
[[ -n $SERVER_DIED || $PANICS != 0 ]] && SERVER_V=FAIL
STEADY_V=pass
[[ $STEADY_ALIVE == "pub0 play0 play1 " ]] || STEADY_V=FAIL
VERDICT=PASS
for v in "$RSS_V" "$G_V" "$FD_V" "$IU_V" "$V0" "$V1" "$END_V" "$LEAK_V" "$SERVER_V" "$STEADY_V"; do
  [[ $v == pass ]] || VERDICT=FAIL
done
count_lines() { cat "$@" 2>/dev/null | wc -l; }
KILLS=$(count_lines "$W"/kills.*)
PUB_KILLS=$(count_lines "$W/pubkills")
RESTARTS=$(count_lines "$W"/exits.*)
JUNK_TOTAL=$(cat "$W/junk.total" 2>/dev/null || echo 0)
mib() { [[ $1 == NA || $1 == - ]] && echo "$1" || awk -v k="$1" 'BEGIN { printf "%.1f", k / 1024 }'; }
refused_text() { [[ $1 == NA ]] && echo "n/a (metric zerocopy_connections_refused_total not exported)" || echo "$1"; }

# --- report --------------------------------------------------------------------
mkdir -p "$(dirname "$OUT")"
{
  echo "# Soak and abuse run"
  echo
  echo "Generated by \`scripts/soak.sh\` on $(date -u '+%Y-%m-%d %H:%M UTC'). Re-run: \`scripts/soak.sh -n $N -m $M -t $T\`."
  echo
  echo "## Setup"
  echo
  echo "| | |"
  echo "|---|---|"
  echo "| tree | $(git rev-parse --short HEAD 2>/dev/null || echo '?')$( [[ -n $(git status --porcelain 2>/dev/null | head -1) ]] && echo ' + uncommitted changes') |"
  echo "| machine | $(nproc) CPUs ($(awk -F': ' '/^model name/ {print $2; exit}' /proc/cpuinfo)), $(awk '/^MemTotal/ {printf "%.1f GiB", $2 / 1048576}' /proc/meminfo) RAM, $(uname -sr) |"
  echo "| tools | $(go version | awk '{print $3}'), $(ffmpeg -hide_banner -version | head -1 | awk '{print $1, $2, $3}') |"
  echo "| server | \`go build ./cmd/zerocopy\`, \`config.yaml\` with HTTP and RTMP on free 127.0.0.1 ports |"
  echo "| clip | ${CLIP_SECONDS} s 1280x720 testsrc2 at $FPS fps, H.264 ${CLIP_KBPS} kb/s (veryfast), GOP $GOP frames (2 s), AAC 128 kb/s 48 kHz sine; FLV at $((CLIP_BPS / 1000)) kb/s overall; $SRC_FRAMES video frames, $SRC_DUPS duplicate hashes |"
  echo "| publishers | N = $N, each \`ffmpeg -re -stream_loop -1 -i clip.flv -c copy -f flv rtmp://…/live/sI\`; s0 is never killed |"
  echo "| players | M = $M: even ones HTTP-FLV \`/live/sK.flv\`, odd ones RTMP play, player j on s((j/2) mod N), \`-c copy -f null\`; p0 (HTTP-FLV) and p1 (RTMP) on s0 are never killed and write framemd5 |"
  echo "| duration | T = $T min ($ELAPSED s measured), a sample every $SAMPLE_EVERY s |"
  echo "| chaos | every $CHAOS_EVERY s one random publisher (1 in 3) or player is killed with KILL, TERM or INT and restarted 0-3 s later: $KILLS kills ($PUB_KILLS publishers), $RESTARTS client exits in all |"
  echo "| junk | every $JUNK_EVERY s, $JUNK_COUNT connections from 127.0.0.2-9: to RTMP silent / random bytes / C0+C1 then junk; to HTTP silent / random bytes / unfinished header / 64 KiB request line / a player of a missing stream; each held 1-8 s; plus CAP+10 silent RTMP connections from 127.0.0.2: $JUNK_TOTAL in all |"
  echo
  echo "## Summary: **$VERDICT**"
  echo
  echo "| check | measured | verdict |"
  echo "|---|---|---|"
  echo "| RSS plateaus (max of last third ≤ max of middle third + 10% + 16 MiB) | $(mib "$RSS_MID") → $(mib "$RSS_LAST") MiB | $RSS_V |"
  echo "| goroutines plateau, samples without junk in flight (+10% + 20) | $G_MID → $G_LAST | $G_V |"
  echo "| open FDs plateau, samples without junk in flight (+10% + 20) | $FD_MID → $FD_LAST | $FD_V |"
  echo "| allocator bytes in use plateau (+10% + 4 MiB) | $IU_MID → $IU_LAST | $IU_V |"
  echo "| allocator bytes in use after every publisher stopped = 0 | $END_INUSE | $END_V |"
  echo "| goroutines / FDs back to the idle baseline (+2) after the run | $BASE_G → $END_G / $BASE_FD → $END_FD | $LEAK_V |"
  echo "| p0 (HTTP-FLV, s0): video frames lost = 0, unknown = 0, ≥ $MIN_FRAMES received | $R0 received, $L0 lost in $GAP0 gaps, $U0 unknown | $V0 |"
  echo "| p1 (RTMP, s0): video frames lost = 0, unknown = 0, ≥ $MIN_FRAMES received | $R1 received, $L1 lost in $GAP1 gaps, $U1 unknown | $V1 |"
  echo "| steady clients (s0, p0, p1) ran to the end | ${STEADY_ALIVE:-none} | $STEADY_V |"
  echo "| server alive, no panic / fatal error / race in its log | died: ${SERVER_DIED:-no}, $PANICS such lines | $SERVER_V |"
  echo "| connections refused by the caps (informational; each burst sends CAP+10 = $((CAP + 10)) from 127.0.0.2, CAP = zerocopy.rtmp.maxconnectionsperip = $CAP) | $(refused_text "$END_REFUSED") ${REFUSED_SERIES:+(${REFUSED_SERIES% })} | - |"
  echo "| subscriber drops (informational; killed players and slow junk players) | $END_DROPS | - |"
  echo "| publishes (informational) | $END_PUBLISHES | - |"
  echo
  echo "\"Lost\" counts the source frames skipped between consecutive received frames (the clip loops, so"
  echo "positions are taken modulo its $SRC_FRAMES frames); \"unknown\" counts received frames whose MD5 is not in the"
  echo "source (corrupted). Only video is compared. Idle baseline before any client: RSS $(mib "$BASE_RSS") MiB,"
  echo "$BASE_G goroutines, $BASE_FD FDs; after the run: RSS $(mib "$END_RSS") MiB."
  echo
  echo "## Over time"
  echo
  echo "pubs/players: live client processes. refused: \`zerocopy_connections_refused_total\` (all labels; NA = not"
  echo "exported). drops: \`zerocopy_subscriber_drops_total\`. junk: a junk burst was in flight."
  echo
  echo "| t (s) | RSS (MiB) | goroutines | open FDs | allocator in use (bytes) | pubs | players | refused | drops | junk |"
  echo "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|"
  awk -F'\t' 'NR > 1 { printf "| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n", $1, ($2 == "NA" ? "NA" : sprintf("%.1f", $2 / 1024)), $3, $4, $5, $6, $7, $8, $9, $10 }' "$W/samples.tsv"
  echo
  echo "## Allocator bytes in use around publisher kills"
  echo
  echo "In use is summed over every connection, so with other publishers live it does not fall to 0; a killed"
  echo "publisher's share should leave it (sampled just before the kill and 2 s after). The strict check is the"
  echo "end state above."
  echo
  if [[ -s $W/pubkills ]]; then
    echo "| t (s) | publisher | signal | in use before | in use 2 s after | change | live publishers after |"
    echo "|---:|---|---|---:|---:|---:|---:|"
    awk '{ ch = ($4 == "NA" || $5 == "NA") ? "NA" : $5 - $4; printf "| %s | %s | %s | %s | %s | %s | %s |\n", $1, $2, $3, $4, $5, ch, $6 }' "$W/pubkills"
  else
    echo "(no publisher was killed)"
  fi
  echo
  echo "End of run, after every publisher stopped and every player ended: **$END_INUSE** bytes in use."
} >"$OUT"

log "report: $OUT ($VERDICT)"
[[ $VERDICT == PASS ]]
