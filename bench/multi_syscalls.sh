#!/bin/bash
# bench/multi_syscalls.sh: system calls and CPU per item of update_sessions (the libcurl
# multi loop in csrc/http/multi.c) from 1 to 256 in flight against a slow server: the
# emulator answering every PATCH after DELAY_MS (default 20) milliseconds.
#   bench/multi_syscalls.sh [lua5.4|luajit]       (strace must be installed)
# Each concurrency runs twice under strace -f -c, with 0 and N items (N = max(200, 16 x
# concurrency): each connection serves 16 items or more, so connection set-up weighs
# little); the difference over N is the cost per item, start-up excluded. CPU (user +
# system) is differenced the same way from two runs without strace.
set -eu
here=$(cd "$(dirname "$0")/.." && pwd)
lua=${1:-lua5.4}
delay=${DELAY_MS:-20}
out=$(mktemp -d)
trap 'rm -rf "$out"; [ -n "${stop_dir:-}" ] && "$here/emulator/stop" "$stop_dir" >/dev/null 2>&1 || true' EXIT
eval "$("$here/emulator/start")"
stop_dir=$GRAPHCOMM_EMULATOR_DIR
export GRAPHCOMM_BASE_URL GRAPHCOMM_TOKEN
unset GRAPHCOMM_BUILD
ctl() { curl -s -X POST -d "$2" "$GRAPHCOMM_BASE_URL/_emulator/$1" >/dev/null; }
ctl config '{"log":false}'
ctl faults "{\"match\":\"/sessions/\",\"method\":\"PATCH\",\"delay_ms\":$delay,\"count\":-1}"
calls() {   # total system calls of one run (strace's summary)
  strace -f -c -o "$out/st" "$lua" "$here/bench/profile_run.lua" bulk "$GRAPHCOMM_TOKEN" "$1" >/dev/null
  awk '$NF == "total" { print $(NF-2) }' "$out/st"
}
cpu() {     # user + system seconds of one run
  { TIMEFORMAT='%3U %3S'; time "$lua" "$here/bench/profile_run.lua" bulk "$GRAPHCOMM_TOKEN" "$1" >/dev/null; } 2>&1 \
    | awk '{ print $1 + $2 }'
}
echo "update_sessions against a server answering after $delay ms ($lua)"
printf '%12s %8s %16s %14s\n' "in flight" items "syscalls/item" "CPU us/item"
for c in 1 4 16 64 256; do
  n=$(( c * 16 > 200 ? c * 16 : 200 ))
  export BENCH_CONCURRENCY=$c
  a=$(calls 0); b=$(calls "$n")
  c0=$(cpu 0); c1=$(cpu "$n")
  printf '%12d %8d %16.1f %14.1f\n' "$c" "$n" "$(echo "($b - $a) / $n" | bc -l)" \
    "$(echo "($c1 - $c0) * 1000000 / $n" | bc -l)"
done
