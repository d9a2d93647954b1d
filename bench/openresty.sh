#!/bin/sh
# bench/openresty.sh: fixes per second through the OpenResty example (examples/openresty,
# Debian's nginx, the ngx transport) with wrk against the emulator, and the same PATCHes
# sent by wrk straight to the emulator: the ceiling, so the ratio is the example's cost.
#   bench/openresty.sh [SECONDS] [CONNECTIONS]     (defaults: 5 s, 32 connections)
# Starts and stops its own emulator (request log off) and example; WORKERS=N (default 1)
# sets the example's nginx workers. TOKENS (default "short jwt", bench/jwt_token.sh): for
# each token named, the example is started with it as GRAPHCOMM_TOKEN (its PATCHes carry
# it), wrk straight at the emulator sends it too, and the rows are printed under its name.
set -eu
here=$(cd "$(dirname "$0")/.." && pwd)
secs=${1:-5}
conns=${2:-32}
workers=${WORKERS:-1}
command -v wrk >/dev/null || { echo "bench/openresty.sh: wrk is missing (scripts/deps bench)" >&2; exit 2; }

# shellcheck source=bench/openresty_example.sh
. "$here/bench/openresty_example.sh"
made=$(curl -fsS --noproxy '*' -X POST -d '{"sessions":1000}' "$GRAPHCOMM_BASE_URL/_emulator/callRecords")
BENCH_CRID=$(printf '%s' "$made" | sed -n 's/.*"id":"\([^"]*\)".*/\1/p')
BENCH_SIDS=$(printf '%s' "$made" | sed -n 's/.*"sessionIds":\[\(.*\)\].*/\1/p' | tr -d '"')
BENCH_BODY='{"modalities":["audio","video"],"endDateTime":"2026-11-21T09:10:00Z","isTest":false}'
export BENCH_CRID BENCH_SIDS BENCH_BODY
# shellcheck source=bench/jwt_token.sh
. "$here/bench/jwt_token.sh"

# Runs wrk; prints requests/s, and fails when any answer was not 2xx.
measure() {  # $1 = mode, $2 = url
    r=$(BENCH_MODE=$1 wrk -t2 -c"$conns" -d"${secs}s" --latency -s "$here/bench/openresty_wrk.lua" "$2")
    if printf '%s' "$r" | grep -q 'Non-2xx'; then printf '%s\n' "$r" >&2; echo "bench/openresty.sh: errors in $1 run" >&2; exit 1; fi
    rps=$(printf '%s\n' "$r" | sed -n 's/^Requests\/sec: *//p')
    p99=$(printf '%s\n' "$r" | sed -n 's/^ *99% *//p')
    echo "$rps $p99"
}

for tok in $tokens; do
    BENCH_TOKEN=$(token "$tok"); export BENCH_TOKEN
    example_start "$BENCH_TOKEN" --workers "$workers"
    # A short warm-up (connections, thread VMs, kept-alive handles), then the runs.
    BENCH_MODE=fix wrk -t1 -c"$conns" -d1s -s "$here/bench/openresty_wrk.lua" "$url" >/dev/null
    set -- $(measure fix "$url");               fix_rps=$1; fix_p99=$2
    set -- $(measure patch "$GRAPHCOMM_BASE_URL"); raw_rps=$1; raw_p99=$2
    example_stop
    echo "token: $tok (${#BENCH_TOKEN} bytes)"
    printf 'openresty example (%s worker(s), %s connections, %s s): %10s fixes/s   p99 %s\n' \
        "$workers" "$conns" "$secs" "$fix_rps" "$fix_p99"
    printf 'wrk PATCH straight to the emulator (the ceiling):     %10s PATCH/s   p99 %s\n' "$raw_rps" "$raw_p99"
    awk -v a="$fix_rps" -v b="$raw_rps" 'BEGIN { printf "ratio example / ceiling: %.2f\n", a / b }'
done
