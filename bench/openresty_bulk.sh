#!/bin/sh
# bench/openresty_bulk.sh: update_sessions inside OpenResty (the example's POST /bulk, the
# ngx transport: one light thread per request in flight) at several concurrencies,
# against the emulator with a fixed delay per PATCH, so that the speed-up shows how many
# requests really were in flight.
#   bench/openresty_bulk.sh [ITEMS] [DELAY_MS]     (defaults: 200 items, 50 ms)
# Starts and stops its own emulator and example.
set -eu
here=$(cd "$(dirname "$0")/.." && pwd)
items=${1:-200}
delay=${2:-50}

emu_dir=""; ex_dir=""
cleanup() {
    [ -n "$ex_dir" ] && GRAPHCOMM_OPENRESTY_DIR=$ex_dir "$here/examples/openresty/run" stop >/dev/null 2>&1
    [ -n "$emu_dir" ] && "$here/emulator/stop" "$emu_dir" >/dev/null 2>&1
    return 0
}
trap cleanup EXIT INT TERM

eval "$("$here/emulator/start")"
emu_dir=$GRAPHCOMM_EMULATOR_DIR
ctl() { curl -fsS --noproxy '*' -X "$1" -d "$3" "$GRAPHCOMM_BASE_URL/_emulator/$2"; }
ctl POST config '{"log":false}' >/dev/null
out=$(GRAPHCOMM_TOKEN=$GRAPHCOMM_TOKEN "$here/examples/openresty/run" start "$GRAPHCOMM_BASE_URL")
url=$(printf '%s\n' "$out" | sed -n 's/^URL=//p')
ex_dir=$(printf '%s\n' "$out" | sed -n 's/^GRAPHCOMM_OPENRESTY_DIR=//p')

for c in 1 4 16 64; do
    made=$(ctl POST callRecords "{\"sessions\":$items}")
    crid=$(printf '%s' "$made" | sed -n 's/.*"id":"\([^"]*\)".*/\1/p')
    sids=$(printf '%s' "$made" | sed -n 's/.*"sessionIds":\(\[[^]]*\]\).*/\1/p')
    ctl POST faults "{\"match\":\"$crid\",\"method\":\"PATCH\",\"delay_ms\":$delay,\"count\":-1}" >/dev/null
    res=$(curl -fsS --noproxy '*' -X POST -H 'Content-Type: application/json' \
        --data-binary "{\"sessionIds\":$sids,\"body\":{\"modalities\":[\"audio\"]}}" \
        "$url/bulk?concurrency=$c&callRecordId=$crid")
    ctl DELETE faults '' >/dev/null
    ok=$(printf '%s' "$res" | sed -n 's/.*"ok":\([0-9]*\).*/\1/p')
    secs=$(printf '%s' "$res" | sed -n 's/.*"elapsed":\([0-9.e+-]*\).*/\1/p')
    awk -v c="$c" -v n="$items" -v ok="$ok" -v s="$secs" -v d="$delay" 'BEGIN {
        printf "concurrency %3d: %d/%d ok in %6.2f s  %7.1f items/s  (%.1f in flight on average)\n",
            c, ok, n, s, n / s, (n * d / 1000) / s }'
done
