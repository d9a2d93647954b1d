#!/bin/bash
# bench/profile.sh: user-space instructions per request (callgrind) for graphcomm and its
# baselines, each with the emulator's short token and a 1,500-byte JWT-shaped one.
#   bench/profile.sh [N]     (default N=1000; builds must exist: make LUA=lua5.4, make LUA=luajit)
# ONLY=TEXT runs only the rows whose label holds TEXT (e.g. ONLY="16 in flight");
# BUILD_ROOT=DIR takes graphcomm's module from DIR/lua5.4 and DIR/luajit (default build/);
# TOKENS="short" or "jwt" runs one token only (default "short jwt"; bench/jwt_token.sh).
# Each client runs twice under callgrind, with 200 and 200+N requests after the same
# set-up; (Ir(200+N) - Ir(200)) / N is its cost per request, start-up excluded.  The VM has
# no hardware counters, so instructions are counted, not timed.  See bench/PROFILE.md.
# The C loop runs twice: with graphcomm's seven headers and with the naive loop's three
# (CURL_LOOP_HEADERS=naive); the line under them is what the contract's four extra
# headers (Accept, SdkVersion, User-Agent, client-request-id) cost inside libcurl.
# "core.http alone": graphcomm's libcurl transport with no layer above it (a prebuilt
# update, only its client-request-id line made per request, the response table built):
# what the client's validation, engine and result add is the session row less this one.
# "outside libcurl": each client less the C loop that sends the same headers (the
# by-hand loop less the naive-headers loop, graphcomm less the full one): what the Lua
# code, its C glue and the VM add on top of libcurl's own work for those headers.
# The rows "limiter on" run with BENCH_LIMITS=1 (connect{ limits = true }: the limiter is
# off by default on loopback, on for every real host); the last rows need no emulator:
# BENCH_TRANSPORT=instant, an instant transport at 100 virtual requests a second, where
# the limiter's windows are full (bench/profile_run.lua).
set -eu
here=$(cd "$(dirname "$0")/.." && pwd)
n=${1:-1000}
out=$(mktemp -d)
trap 'rm -rf "$out"; [ -n "${stop_dir:-}" ] && "$here/emulator/stop" "$stop_dir" >/dev/null 2>&1 || true' EXIT
if [ -z "${GRAPHCOMM_BASE_URL:-}" ] || [ -z "${GRAPHCOMM_TOKEN:-}" ]; then
  eval "$("$here/emulator/start")"
  stop_dir=$GRAPHCOMM_EMULATOR_DIR
fi
export GRAPHCOMM_BASE_URL GRAPHCOMM_TOKEN
ctl() { curl -s --noproxy '*' -X POST -d "$2" "$GRAPHCOMM_BASE_URL/_emulator/$1"; }
ctl config '{"log":false}' >/dev/null
# shellcheck source=bench/jwt_token.sh
. "$here/bench/jwt_token.sh"
get() { curl -s --noproxy '*' -H "Authorization: Bearer $GRAPHCOMM_TOKEN" "$GRAPHCOMM_BASE_URL/v1.0/communications/callRecords$1"; }
crid=$(get "" | field '.value[1].id')
sid=$(get "/$crid/sessions" | field '.value[1].id')
url="$GRAPHCOMM_BASE_URL/v1.0/communications/callRecords/$crid/sessions/$sid"
body='{"modalities":["audio","video"],"endDateTime":"2024-05-01T10:15:00Z","failureInfo":{"reason":"bench","stage":"midcall"}}'
mkdir -p "$here/build/bench"
cc -std=c99 -O2 -D_POSIX_C_SOURCE=200809L -o "$here/build/bench/curl_loop" "$here/bench/curl_loop.c" \
  $(pkg-config --cflags --libs libcurl 2>/dev/null || echo -lcurl)

unset GRAPHCOMM_BUILD            # per() sets it: build/<lua> of this tree, or BUILD_ROOT's
# Ir of one run: callgrind's summary line.
ir() {
  valgrind --tool=callgrind --callgrind-out-file="$out/cg" "$@" >"$out/log" 2>&1 \
    || { cat "$out/log" >&2; return 1; }
  local v
  v=$(sed -n 's/^summary: //p' "$out/cg")
  [ -n "$v" ] || { echo "bench/profile.sh: no callgrind summary" >&2; return 1; }
  echo "$v"
}
# The command for one client: $1 = kind, $2 = token, $3 = requests after the warm-up
# (the C loop and the lua-curl loop warm up with 200 requests themselves).
cmd() {
  case $1 in
    curl|curl-naive) echo "$here/build/bench/curl_loop" "$url" "$2" "$body" 0 "$3" ;;
    naive) echo luajit "$here/bench/naive_loop.lua" "$url" "$2" 0 --count "$3" ;;
    *:*) echo "${1%%:*}" "$here/bench/profile_run.lua" "${1#*:}" "$2" $(( 200 + $3 )) ;;
  esac
}
# Instructions per request: $1 = label, $2 = kind, $3 = token (none has a space).
# Prints the row and leaves the count in $last (empty when skipped or failed).
per() {
  local a b
  last=
  case $1 in *"${ONLY:-}"*) ;; *) return ;; esac
  case $2 in *:*) export GRAPHCOMM_BUILD=${BUILD_ROOT:-$here/build}/${2%%:*} ;; esac
  # valgrind runs curl_loop itself (no env(1) in between), so the switch is exported.
  if [ "$2" = curl-naive ]; then export CURL_LOOP_HEADERS=naive; else unset CURL_LOOP_HEADERS; fi
  case $1 in *"limiter on"*) export BENCH_LIMITS=1 ;; *) unset BENCH_LIMITS ;; esac
  case $1 in *"instant transport"*) export BENCH_TRANSPORT=instant ;; *) unset BENCH_TRANSPORT ;; esac
  # shellcheck disable=SC2046
  a=$(ir $(cmd "$2" "$3" 0)) && b=$(ir $(cmd "$2" "$3" "$n")) \
    || { printf '%-48s %12s\n' "$1" failed; return; }
  last=$(( (b - a) / n ))
  printf '%-48s %12d\n' "$1" "$last"
}
# Bytes the C loop's request sends (head and body), with $1's headers and token $2.
request_bytes() {
  local v
  v=$(CURL_LOOP_HEADERS=$1 "$here/build/bench/curl_loop" "$url" "$2" "$body" 0 1 \
    | sed -n 's/.*"request_bytes": \([0-9]*\).*/\1/p')
  echo "${v:-?}"
}
# One row of the outside-libcurl lines: $1 = label, $2 = the client's count, $3 = its floor.
outside() {
  [ -n "$2" ] && [ -n "$3" ] || return 0
  printf '    %-44s %12d\n' "$1" $(( $2 - $3 ))
}
declare -A table_body session_body transport_alone
for tok in $tokens; do
  t=$(token "$tok")
  table_body=(); session_body=(); transport_alone=()
  echo "token: $tok (${#t} bytes), $n requests; user-space instructions per request"
  per "libcurl C loop (bench/curl_loop.c, CURLU)" curl "$t"; full=$last
  per "libcurl C loop, the naive loop's headers" curl-naive "$t"; few=$last
  if [ -n "$full" ] && [ -n "$few" ]; then
    bf=$(request_bytes "" "$t"); bn=$(request_bytes naive "$t")
    printf '%-48s %12d\n' "  difference: the contract's 4 extra headers" $(( full - few ))
    per_byte='?'
    case $bf$bn in
      *[!0-9]*) ;;
      *) [ "$bf" -gt "$bn" ] && per_byte=$(( (full - few) / (bf - bn) )) ;;
    esac
    printf '    (7 custom headers against 3; %s against %s bytes a request, %s instructions a byte)\n' \
      "$bf" "$bn" "$per_byte"
  fi
  per "lua-curl + lua-cjson by hand (LuaJIT)" naive "$t"; by_hand=$last
  for lua in lua5.4 luajit; do
    per "graphcomm, table body, $lua" $lua:table "$t"; table_body[$lua]=$last
    per "graphcomm, session object body, $lua" $lua:session "$t"; session_body[$lua]=$last
    per "core.http alone (prebuilt update), $lua" $lua:transport "$t"; transport_alone[$lua]=$last
    per "graphcomm, session object, limiter on, $lua" $lua:session "$t"
    per "graphcomm, 16 in flight, $lua" $lua:bulk "$t"
  done
  # Each client less the C loop that sends its headers: the work done outside libcurl.
  if [ -n "$full" ] && [ -n "$few" ]; then
    echo "  outside libcurl (each less the C loop with its own headers)"
    outside "lua-curl + lua-cjson by hand (LuaJIT)" "$by_hand" "$few"
    for lua in lua5.4 luajit; do
      outside "graphcomm, table body, $lua" "${table_body[$lua]}" "$full"
      outside "graphcomm, session object body, $lua" "${session_body[$lua]}" "$full"
      outside "core.http alone (prebuilt update), $lua" "${transport_alone[$lua]}" "$full"
    done
  fi
done
echo "instant transport (no network, 100 virtual requests/s), $n updates; instructions per update"
for lua in lua5.4 luajit; do
  per "graphcomm, instant transport, session, $lua" $lua:session "$GRAPHCOMM_TOKEN"
  per "graphcomm, instant transport, session, limiter on, $lua" $lua:session "$GRAPHCOMM_TOKEN"
done
