#!/bin/bash
# bench/multi_syscalls.sh: system calls, CPU and peak memory per item of update_sessions
# (the libcurl multi loop: csrc/http/multi.c, csrc/http/events.c) from 1 to 256 in flight
# against a slow server: the emulator answering every PATCH after DELAY_MS (default 20)
# milliseconds.
#   bench/multi_syscalls.sh [lua5.4|luajit]       (strace must be installed)
# Variables: DELAY_MS; ROUNDS (default 3) runs for CPU and memory, the median shown;
# CONCURRENCY (default "1 4 16 64 256"); BUILDS, build folders to compare (each holds
# graphcomm/core.so; default build/<lua>), measured in turn at each concurrency.
# N = max(200, 16 x concurrency) items, so each connection serves 16 items or more and
# connection set-up weighs little. System calls: two runs under strace -f -c, with 0
# and N items; the difference over N is the cost per item, start-up excluded. CPU: the
# process's CPU time (user + system, os.clock) around the update_sessions call alone,
# over N. Peak memory: VmHWM of the N-item run; the last line divides its growth from
# 16 to 256 in flight by the 240 slots added. INSTR=1 adds user-space instructions per
# item (callgrind, 0 and N items differenced: the count the machine's load cannot blur).
# TOKENS (default "short jwt"): each token named gets its own table and memory line:
# short, the emulator's own; jwt, a 1,500-byte JWT-shaped one it mints (bench/jwt_token.sh).
set -eu
here=$(cd "$(dirname "$0")/.." && pwd)
lua=${1:-lua5.4}
delay=${DELAY_MS:-20}
rounds=${ROUNDS:-3}
levels=${CONCURRENCY:-1 4 16 64 256}
builds=${BUILDS:-$here/build/$lua}
out=$(mktemp -d)
trap 'rm -rf "$out"; [ -n "${stop_dir:-}" ] && "$here/emulator/stop" "$stop_dir" >/dev/null 2>&1 || true' EXIT
eval "$("$here/emulator/start")"
stop_dir=$GRAPHCOMM_EMULATOR_DIR
export GRAPHCOMM_BASE_URL GRAPHCOMM_TOKEN
ctl() { curl -s --noproxy '*' -X POST -d "$2" "$GRAPHCOMM_BASE_URL/_emulator/$1" >/dev/null; }
ctl config '{"log":false}'
ctl faults "{\"match\":\"/sessions/\",\"method\":\"PATCH\",\"delay_ms\":$delay,\"count\":-1}"
# shellcheck source=bench/jwt_token.sh
. "$here/bench/jwt_token.sh"
run() { "$lua" "$here/bench/profile_run.lua" bulk "$t" "$1"; }   # t: the token measured
calls() {   # total system calls of one run (strace's summary)
  strace -f -c -o "$out/st" "$lua" "$here/bench/profile_run.lua" bulk "$t" "$1" >/dev/null
  awk '$NF == "total" { print $(NF-2) }' "$out/st"
}
instr() {   # user-space instructions of one run (callgrind's summary)
  valgrind --tool=callgrind --callgrind-out-file="$out/cg" "$lua" "$here/bench/profile_run.lua" bulk \
    "$t" "$1" >/dev/null 2>&1
  sed -n 's/^summary: //p' "$out/cg"
}
median() { sort -g | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
echo "update_sessions against a server answering after $delay ms ($lua; CPU and memory: median of $rounds)"
for tok in $tokens; do
  t=$(token "$tok")
  echo "token: $tok (${#t} bytes)"
  printf '%10s %7s %-28s %14s %12s %14s%s\n' "in flight" items build "syscalls/item" "CPU us/item" "peak RSS kB" \
    "$([ -n "${INSTR:-}" ] && printf ' %12s' instr/item)"
  : >"$out/rss"
  for c in $levels; do
    n=$(( c * 16 > 200 ? c * 16 : 200 ))
    export BENCH_CONCURRENCY=$c
    for b in $builds; do
      export GRAPHCOMM_BUILD=$b
      a=$(calls 0); z=$(calls "$n")
      : >"$out/cpu"; : >"$out/hwm"
      for _ in $(seq "$rounds"); do
        BENCH_REPORT=1 run "$n" | awk -v c="$out/cpu" -v h="$out/hwm" \
          '/^cpu_s/ { print $2 >> c; print $4 >> h }'
      done
      cpu=$(median <"$out/cpu"); hwm=$(median <"$out/hwm")
      echo "$c $b $hwm" >>"$out/rss"
      ins=""
      [ -n "${INSTR:-}" ] && ins=$(printf ' %12d' $(( ($(instr "$n") - $(instr 0)) / n )))
      printf '%10d %7d %-28s %14.1f %12.1f %14d%s\n' "$c" "$n" "${b#"$here"/}" \
        "$(echo "($z - $a) / $n" | bc -l)" "$(echo "$cpu * 1000000 / $n" | bc -l)" "$hwm" "$ins"
    done
  done
  for b in $builds; do
    lo=$(awk -v b="$b" '$1 == 16 && $2 == b { print $3 }' "$out/rss")
    hi=$(awk -v b="$b" '$1 == 256 && $2 == b { print $3 }' "$out/rss")
    [ -n "$lo" ] && [ -n "$hi" ] && printf 'peak memory per in-flight slot (%s, %s token): %.1f kB ((%d - %d) / 240)\n' \
      "${b#"$here"/}" "$tok" "$(echo "($hi - $lo) / 240" | bc -l)" "$hi" "$lo"
  done
done
exit 0
