#!/bin/bash
# bench/tls_versions.sh: HTTP/1.1 against HTTP/2 over TLS, one request at a time and 16
# in flight, against the emulator started with --tls: user-space instructions per
# update (callgrind, runs of 0 and N updates differenced, TLS handshakes excluded) and
# the wall time of N updates without valgrind (median of 3, interleaved).
#   bench/tls_versions.sh [lua5.4|luajit] [N]       (default lua5.4, N=400)
# TOKENS (default "short jwt"): one table for each token named: short, the emulator's own;
# jwt, a 1,500-byte JWT-shaped one it mints (bench/jwt_token.sh).
set -eu
here=$(cd "$(dirname "$0")/.." && pwd)
lua=${1:-lua5.4}
n=${2:-400}
out=$(mktemp -d)
trap 'rm -rf "$out"; [ -n "${stop_dir:-}" ] && "$here/emulator/stop" "$stop_dir" >/dev/null 2>&1 || true' EXIT
eval "$("$here/emulator/start" --tls)"
stop_dir=$GRAPHCOMM_EMULATOR_DIR
export GRAPHCOMM_BASE_URL GRAPHCOMM_TOKEN GRAPHCOMM_CA_FILE
unset GRAPHCOMM_BUILD
curl -s --noproxy '*' --cacert "$GRAPHCOMM_CA_FILE" -X POST -d '{"log":false}' "$GRAPHCOMM_BASE_URL/_emulator/config" >/dev/null
# shellcheck source=bench/jwt_token.sh
. "$here/bench/jwt_token.sh"
# $1 = HTTP version, $2 = mode, $3 = updates; bearer: the token measured.
run() { BENCH_HTTP_VERSION=$1 "$lua" "$here/bench/profile_run.lua" "$2" "$bearer" "$3"; }
ir() {
  BENCH_HTTP_VERSION=$1 valgrind --tool=callgrind --callgrind-out-file="$out/cg" \
    "$lua" "$here/bench/profile_run.lua" "$2" "$bearer" "$3" >/dev/null 2>&1
  sed -n 's/^summary: //p' "$out/cg"
}
secs() { local t0 t1; t0=$(date +%s.%N); run "$@" >/dev/null; t1=$(date +%s.%N); echo "$t1 - $t0" | bc -l; }
median3() { printf '%s\n' "$@" | sort -g | sed -n 2p; }
echo "TLS: HTTP/1.1 against HTTP/2 ($lua, $n updates)"
for tok in $tokens; do
  bearer=$(token "$tok")
  echo "token: $tok (${#bearer} bytes)"
  printf '%-28s %10s %14s %12s\n' mode version "instr/update" "updates/s"
  for mode in table bulk; do
    declare -A t=()
    for round in 1 2 3; do
      for v in 1.1 2tls; do t[$v]="${t[$v]:-} $(secs $v $mode "$n")"; done
    done
    for v in 1.1 2tls; do
      a=$(ir $v $mode 0); b=$(ir $v $mode "$n")
      base=$(secs $v $mode 0)
      # shellcheck disable=SC2086
      m=$(median3 ${t[$v]})
      label=$([ $mode = table ] && echo "one at a time" || echo "16 in flight")
      printf '%-28s %10s %14d %12.0f\n' "$label" "$v" $(( (b - a) / n )) "$(echo "$n / ($m - $base)" | bc -l)"
    done
    unset t
  done
done
