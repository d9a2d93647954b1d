#!/bin/sh
# bench/encode_instructions.sh [LUA]: user-space instructions per call of each
# bench/encode.lua contender (default LUA=lua5.4; luajit works too), counted by
# callgrind over 2,000 and 12,000 calls after the same start-up and differenced, so
# loading and warm-up cancel out. The VM has no hardware counters: this is the
# stable figure beside the timings, which move with the machine's load.
set -eu
cd "$(dirname "$0")/.."
lua=${1:-lua5.4}
flavour=$($lua -e 'print(rawget(_G, "jit") and "luajit" or _VERSION:gsub("Lua ", "lua"))')
export GRAPHCOMM_BUILD="${GRAPHCOMM_BUILD:-build/$flavour}"
count() {  # $1 contender, $2 calls -> instructions
  valgrind --tool=callgrind --callgrind-out-file=/dev/null "$lua" bench/encode.lua --calls "$1" "$2" 2>&1 |
    awk '/refs:/ { gsub(",", "", $4); print $4 }'
}
echo "instructions per call ($flavour)"
for c in encode cjson session json; do
  a=$(count "$c" 2000)
  b=$(count "$c" 12000)
  printf '  %-8s %7d\n' "$c" $(( (b - a) / 10000 ))
done
