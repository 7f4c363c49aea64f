#!/usr/bin/env bash
# HTTP benchmark of the request path: builds the release binary, starts
# `bbws serve` on a temporary data directory and a free loopback port, and
# drives it with wrk (Debian package `wrk`; installed here if missing:
# `apt-get install -y wrk`).
#
# Routes, each with BENCH_CONNECTIONS connections for BENCH_SECONDS:
#   healthz       GET /healthz                  no auth: the ceiling
#   get           GET /v1/tenants/{id}          bearer token
#   create        POST /v1/tenants              bearer token, new tenant each
#   patch         PATCH /v1/tenants/{id}        If-Match from the previous
#                 answer, each in-flight request on its own tenant (no races)
#   patch-shared  the same on ONE tenant from every connection: mostly 412,
#                 reported for contrast (see scripts/bench-api.lua)
#
# The server and wrk share the machine. BENCH_PIN chooses the layout:
#   pinned    server on CPU 0 (taskset), wrk -t1 on CPU 1
#   unpinned  neither pinned, wrk -t BENCH_THREADS (default: nproc)
#   both      (default) one after the other, each on a fresh server
#
# BENCH_STORE=dynamodb runs the server on DynamoDB and S3 instead, on the
# moto server of scripts/with-moto.sh (a correctness target, not a
# performance reference: moto is single-process Python, serialized here):
#   BENCH_STORE=dynamodb scripts/with-moto.sh scripts/bench-api.sh
#
# Environment (defaults): BENCH_SECONDS (10), BENCH_CONNECTIONS (64),
# BENCH_TENANTS (256, tenants pre-created for patch; must exceed the
# connections), BENCH_PIN (both), BENCH_THREADS (nproc), BENCH_WARMUP (2),
# BENCH_ROUTES ("healthz get create patch patch-shared"),
# BENCH_RESULTS (a file to append the raw result lines to),
# BENCH_MIN_GET_RATIO (0.15: the script exits 1 when the guarded GET falls under
# that fraction of /healthz in any layout measured; see the regression check),
# BENCH_UNLOGGED=1 (serve with --unlogged-decisions-for-benchmarks: decisions
# still made, none recorded; what the decision log costs),
# BENCH_KEEP=1 keeps the data directories and server logs, BENCH_BIN=PATH
# benchmarks that bbws binary instead of building one (for A/B comparisons).
#
# Why wrk: `apt-get install -y wrk` takes seconds, while `cargo install oha
# --locked` took 7.5 min on this 2-core machine; wrk's Lua drives the
# If-Match PATCH (each request carries the ETag its tenant's previous answer
# gave), which oha cannot; and wrk is the cheaper client on a machine it
# shares with the server (GET /healthz with the server pinned to one CPU and
# the tool to the other: wrk 85.5k req/s using 80% of its CPU, oha 1.16
# 65.9k req/s using 95%, i.e. oha was the bottleneck).
#
# Usage: scripts/bench-api.sh            (from anywhere in the repository)
#        BENCH_SECONDS=30 BENCH_PIN=pinned scripts/bench-api.sh
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
LUA="$ROOT/scripts/bench-api.lua"
SECONDS_PER_RUN=${BENCH_SECONDS:-10}
CONNECTIONS=${BENCH_CONNECTIONS:-64}
NTENANTS=${BENCH_TENANTS:-256}
PIN=${BENCH_PIN:-both}
CPUS=$(nproc)
UNPINNED_THREADS=${BENCH_THREADS:-$CPUS}
WARMUP=${BENCH_WARMUP:-2}
ROUTES=${BENCH_ROUTES:-"healthz get create patch patch-shared"}
BIN="$ROOT/target/release/bbws"

log() { printf '[bench] %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

if (( NTENANTS <= CONNECTIONS )); then
  die "BENCH_TENANTS ($NTENANTS) must exceed BENCH_CONNECTIONS ($CONNECTIONS) for race-free PATCH"
fi

# --- tools ----------------------------------------------------------------
if ! command -v wrk >/dev/null; then
  log "installing wrk (Debian package)"
  SUDO=""; [[ $(id -u) -ne 0 ]] && SUDO=sudo
  $SUDO apt-get install -y wrk >/dev/null 2>&1 \
    || { $SUDO apt-get update -qq && $SUDO apt-get install -y wrk >/dev/null; }
fi
for tool in curl taskset; do
  command -v "$tool" >/dev/null || die "$tool is required"
done

if [[ -n ${BENCH_BIN:-} ]]; then
  BIN=$BENCH_BIN   # A/B runs: benchmark this binary as it is, no build
  log "using $BIN (BENCH_BIN; not built here)"
else
  log "building the release binary (cargo build --release -p bbws-host)"
  (cd "$ROOT" && cargo build --release -p bbws-host --quiet)
fi
[[ -x $BIN ]] || die "no executable $BIN"

# --- server lifecycle -------------------------------------------------------
WORK=$(mktemp -d "${TMPDIR:-/tmp}/bbws-bench.XXXXXX")
SERVER_PID=""
stop_server() {
  if [[ -n $SERVER_PID ]] && kill -0 "$SERVER_PID" 2>/dev/null; then
    kill -TERM "$SERVER_PID" 2>/dev/null || true
    for _ in $(seq 50); do kill -0 "$SERVER_PID" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$SERVER_PID" 2>/dev/null || true
    wait "$SERVER_PID" 2>/dev/null || true
  fi
  SERVER_PID=""
}
cleanup() {
  stop_server
  if [[ ${BENCH_KEEP:-0} == 1 ]]; then log "kept $WORK"; else rm -rf "$WORK"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

TOKEN="bbws_bench_$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')"
BASE=""

# start_server NAME [taskset-cpu]: fresh data dir, port chosen by the kernel
# (listen on port 0; the server prints the address it got).
start_server() {
  local name=$1 cpu=${2:-}
  local dir="$WORK/$name"
  mkdir -p "$dir"
  local -a cmd=("$BIN" serve --data-dir "$dir/data" --listen 127.0.0.1:0)
  # What the decision log costs: the same run with nothing recorded.
  [[ ${BENCH_UNLOGGED:-0} == 1 ]] && cmd+=(--unlogged-decisions-for-benchmarks)
  if [[ ${BENCH_STORE:-sqlite} == dynamodb ]]; then
    # On the moto server of scripts/with-moto.sh: a fresh table and bucket.
    [[ -n ${BBWS_TEST_AWS_ENDPOINT:-} ]] || die "BENCH_STORE=dynamodb needs scripts/with-moto.sh (BBWS_TEST_AWS_ENDPOINT)"
    local unique="bench-$name-$RANDOM$RANDOM"
    cmd+=(--store dynamodb --table "$unique" --blobs "s3://$unique/blobs" --create-table)
    export AWS_ENDPOINT_URL=$BBWS_TEST_AWS_ENDPOINT AWS_ACCESS_KEY_ID=testing \
      AWS_SECRET_ACCESS_KEY=testing AWS_REGION=us-east-1
  fi
  [[ -n $cpu ]] && cmd=(taskset -c "$cpu" "${cmd[@]}")
  # BBWS_LOG=warn: per-request info lines (tenant created) would otherwise
  # cost the server a formatted write per POST.
  BBWS_BOOTSTRAP_TOKEN=$TOKEN BBWS_LOG=${BBWS_LOG:-warn} "${cmd[@]}" >"$dir/server.log" 2>&1 &
  SERVER_PID=$!
  local addr=""
  for _ in $(seq 100); do
    addr=$(sed -n 's|^bbws listening on http://\(127\.0\.0\.1:[0-9]*\).*|\1|p' "$dir/server.log" | head -n1)
    [[ -n $addr ]] && break
    kill -0 "$SERVER_PID" 2>/dev/null || { cat "$dir/server.log" >&2; die "server exited"; }
    sleep 0.1
  done
  [[ -n $addr ]] || { cat "$dir/server.log" >&2; die "server did not report its address"; }
  BASE="http://$addr"
  curl -fsS "$BASE/healthz" >/dev/null || die "healthz failed"
  log "server $name: pid $SERVER_PID at $BASE${cpu:+ on CPU $cpu}, data $dir/data"
}

# create_tenant NAME -> prints the tenant id.
create_tenant() {
  local body
  body=$(curl -fsS -X POST "$BASE/v1/tenants" \
    -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' \
    -d "{\"organisationName\":\"$1\"}")
  sed -n 's/.*"tenantId":"\([^"]*\)".*/\1/p' <<<"$body"
}

proc_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
# Busy and steal jiffies of the whole machine (all CPUs), from /proc/stat.
machine_ticks() { awk '$1 == "cpu" { print $2 + $3 + $4 + $7 + $8 + $9, $9 }' /proc/stat; }

# run_wrk CONFIG MODE: one measured run; appends a result line to $RESULTS:
# config, the line done() of bench-api.lua printed, then the CPU use over
# the run in % of one CPU: server, wrk, everything else (other processes,
# interrupts not charged to either: the noise), and steal (a VM's host
# taking the CPU away).
run_wrk() {
  local config=$1 mode=$2 threads wrk_cpu=""
  if [[ $config == pinned ]]; then threads=1; wrk_cpu=1; else threads=$UNPINNED_THREADS; fi
  (( threads <= CONNECTIONS )) || threads=$CONNECTIONS
  local -a cmd=(wrk -t"$threads" -c"$CONNECTIONS" -d"${SECONDS_PER_RUN}s" --timeout 5s -s "$LUA" "$BASE")
  [[ -n $wrk_cpu ]] && cmd=(taskset -c "$wrk_cpu" "${cmd[@]}")
  local out="$WORK/wrk.out" timing="$WORK/wrk.time" TIMEFORMAT='%3U %3S'
  local srv0 srv1 m0 m1 t0 t1
  srv0=$(proc_ticks "$SERVER_PID"); m0=$(machine_ticks); t0=$(date +%s.%N)
  { time env BENCH_MODE="$mode" BENCH_TOKEN="$TOKEN" BENCH_TENANT="$GET_TENANT" \
      BENCH_TENANTS="$TENANT_FILE" BENCH_THREADS="$threads" BENCH_OUT=/dev/null \
      "${cmd[@]}" >"$out"; } 2>"$timing" || { cat "$out" "$timing" >&2; die "wrk failed ($mode)"; }
  srv1=$(proc_ticks "$SERVER_PID"); m1=$(machine_ticks); t1=$(date +%s.%N)
  local line cpu
  line=$(tail -n1 "$out")
  [[ $(cut -f1 <<<"$line") == "$mode" ]] || { cat "$out" "$timing" >&2; die "no result from wrk ($mode)"; }
  cpu=$(awk -v a="$srv0" -v b="$srv1" -v m0="$m0" -v m1="$m1" -v s="$t0" -v e="$t1" \
    -v w="$(tail -n1 "$timing")" -v hz="$(getconf CLK_TCK)" 'BEGIN {
      split(m0, x, " "); split(m1, y, " "); split(w, u, " ")
      secs = e - s; srv = (b - a) / hz; wrk = u[1] + u[2]
      busy = (y[1] - x[1]) / hz; steal = (y[2] - x[2]) / hz
      other = busy - steal - srv - wrk; if (other < 0) other = 0
      printf "%.0f\t%.0f\t%.0f\t%.0f", 100 * srv / secs, 100 * wrk / secs, 100 * other / secs, 100 * steal / secs }')
  printf '%s\t%s\t%s\n' "$config" "$line" "$cpu" >>"$RESULTS"
  log "$config $mode: $(cut -f3 <<<"$line") req/s, p99 $(cut -f5 <<<"$line") ms, CPU server/wrk/other/steal % $(tr '\t' '/' <<<"$cpu")"
}

run_config() {
  local config=$1 cpu=""
  [[ $config == pinned ]] && cpu=0
  start_server "$config" "$cpu"
  GET_TENANT=$(create_tenant "Bench Read Ltd")
  [[ -n $GET_TENANT ]] || die "could not create a tenant"
  TENANT_FILE="$WORK/$config/tenants.txt"
  : >"$TENANT_FILE"
  for i in $(seq "$NTENANTS"); do create_tenant "Bench Patch $i" >>"$TENANT_FILE"; done
  [[ $(grep -c . "$TENANT_FILE") == "$NTENANTS" ]] || die "tenant pre-creation failed"
  if (( WARMUP > 0 )); then
    local saved=$SECONDS_PER_RUN saved_results=$RESULTS
    SECONDS_PER_RUN=$WARMUP RESULTS="$WORK/warmup.tsv"
    log "warm-up: ${WARMUP}s of GET /v1/tenants/{id}"
    run_wrk "$config" get 2>/dev/null
    SECONDS_PER_RUN=$saved RESULTS=$saved_results
  fi
  for mode in $ROUTES; do run_wrk "$config" "$mode"; done
  stop_server
}

RESULTS="$WORK/results.tsv"
: >"$RESULTS"
case $PIN in
  both) CONFIGS="pinned unpinned" ;;
  pinned|unpinned) CONFIGS=$PIN ;;
  *) die "BENCH_PIN must be pinned, unpinned or both" ;;
esac
if [[ $CONFIGS == *pinned* && $CONFIGS != unpinned ]] && (( CPUS < 2 )); then
  die "the pinned layout needs 2 CPUs; run with BENCH_PIN=unpinned"
fi

log "machine: $CPUS CPUs ($(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n1)), load $(cut -d' ' -f1-3 /proc/loadavg), $(uname -r), $(wrk --version 2>&1 | head -n1 | cut -d' ' -f1-2)"
log "commit $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo '?')$( [[ -n $(git -C "$ROOT" status --porcelain -- host 2>/dev/null) ]] && echo ' (host/ has uncommitted changes)')"
for config in $CONFIGS; do run_config "$config"; done

# --- report ----------------------------------------------------------------
label() {
  case $1 in
    healthz) echo "GET /healthz" ;;
    get) echo "GET /v1/tenants/{id}" ;;
    create) echo "POST /v1/tenants" ;;
    patch) echo "PATCH /v1/tenants/{id} If-Match" ;;
    patch-shared) echo "PATCH If-Match, 1 shared tenant" ;;
  esac
}
echo
echo "bbws HTTP benchmark: ${CONNECTIONS} connections, ${SECONDS_PER_RUN} s per route, wrk, loopback"
echo "pinned = server on CPU 0, wrk -t1 on CPU 1; unpinned = no affinity, wrk -t${UNPINNED_THREADS}"
for config in $CONFIGS; do
  echo
  printf '%-9s %-32s %8s %7s %7s %6s %8s %5s %s\n' \
    config route "req/s" "p50 ms" "p99 ms" "vs hz" "non-2xx" "sockE" "CPU% srv/wrk/other/steal  statuses"
  hz=$(awk -F'\t' -v c="$config" '$1 == c && $2 == "healthz" { print $4 }' "$RESULTS")
  while IFS=$'\t' read -r cfg mode _requests rps p50 p99 _max non2xx sockerr statuses srv wrkc other steal; do
    [[ $cfg == "$config" ]] || continue
    ratio=$(awk -v r="$rps" -v h="${hz:-0}" 'BEGIN { if (h > 0) printf "%.0f%%", 100 * r / h; else print "-" }')
    printf '%-9s %-32s %8.0f %7.2f %7.2f %6s %8s %5s %-24s %s\n' \
      "$cfg" "$(label "$mode")" "$rps" "$p50" "$p99" "$ratio" "$non2xx" "$sockerr" \
      "$srv/$wrkc/$other/$steal" "$statuses"
  done <"$RESULTS"
done
echo
echo "vs hz: req/s relative to GET /healthz in the same configuration"
echo "non-2xx: answers with status >= 400 (the PATCH rows also list every status); sockE: wrk connect/read/write/timeout errors"
echo "CPU%: over the run, 100 = one CPU: the server process, wrk, everything else on the machine, and steal"
if [[ -n ${BENCH_RESULTS:-} ]]; then cat "$RESULTS" >>"$BENCH_RESULTS"; fi

# --- regression check -------------------------------------------------------
# The guarded read (authenticated, decided by the RBAC guest, logged) must
# stay at BENCH_MIN_GET_RATIO of /healthz or better in every layout
# measured, so the figure cannot silently regress. A benchmark, not a CI
# test: it runs when someone runs it. The floor sits under today's figure
# (0.20-0.27 pinned, 0.27-0.34 unpinned, 2026-12-04) and above where it
# was before (0.13-0.14 pinned on 2026-11-27): a floor of 0.4, issue 14's,
# would fail every run until the read path reaches its goal of 0.5, and a
# check that always fails checks nothing. Raise it with the figure.
MIN_RATIO=${BENCH_MIN_GET_RATIO:-0.15}
failed=0
for config in $CONFIGS; do
  verdict=$(awk -F'\t' -v c="$config" -v min="$MIN_RATIO" '
    $1 == c && $2 == "healthz" { hz = $4 } $1 == c && $2 == "get" { get = $4 }
    END { if (hz > 0 && get != "") printf "%s %.2f", (get / hz >= min ? "ok" : "low"), get / hz }' "$RESULTS")
  [[ -n $verdict ]] || continue
  if [[ $verdict == low* ]]; then
    log "REGRESSION: $config GET /v1/tenants/{id} at ${verdict#low } of /healthz, under $MIN_RATIO"
    failed=1
  else
    log "$config GET /v1/tenants/{id} at ${verdict#ok } of /healthz (floor $MIN_RATIO)"
  fi
done
exit "$failed"
