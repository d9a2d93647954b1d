#!/bin/sh
# bench/openresty_bulk.sh: update_sessions inside OpenResty (the example's POST /bulk, the
# ngx transport: one light thread per request in flight) at several concurrencies,
# against the emulator with a fixed delay per PATCH, so that the speed-up shows how many
# requests really were in flight.
#   bench/openresty_bulk.sh [ITEMS] [DELAY_MS]     (defaults: 200 items, 50 ms)
# Starts and stops its own emulator and example. TOKENS (default "short jwt",
# bench/jwt_token.sh): for each token named, the example is started with it as
# GRAPHCOMM_TOKEN (its PATCHes carry it) and the rows are printed under its name.
set -eu
here=$(cd "$(dirname "$0")/.." && pwd)
items=${1:-200}
delay=${2:-50}

# shellcheck source=bench/openresty_example.sh
. "$here/bench/openresty_example.sh"
ctl() { curl -fsS --noproxy '*' -X "$1" -d "$3" "$GRAPHCOMM_BASE_URL/_emulator/$2"; }
# shellcheck source=bench/jwt_token.sh
. "$here/bench/jwt_token.sh"

for tok in $tokens; do
    t=$(token "$tok")
    example_start "$t"
    echo "token: $tok (${#t} bytes)"
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
    example_stop
done
