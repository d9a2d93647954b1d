# bench/jwt_token.sh: sourced by bench/profile.sh, bench/multi_syscalls.sh,
# bench/tls_versions.sh, bench/openresty.sh and bench/openresty_bulk.sh once the emulator
# runs (GRAPHCOMM_BASE_URL and GRAPHCOMM_TOKEN set; GRAPHCOMM_CA_FILE too over TLS).
# It checks TOKENS (default "short jwt": short, the emulator's own token; jwt, a
# 1,500-byte JWT-shaped one the emulator mints through POST /_emulator/tokens
# {"bytes":1500}, only when TOKENS names it) and defines:
#   field EXPR   prints v EXPR of the JSON on stdin (luajit + lua-cjson): field '.value[1].id'
#   token NAME   prints the token called NAME (short or jwt)
# shellcheck shell=bash
tokens=${TOKENS:-short jwt}
for _tok in $tokens; do
  case $_tok in short|jwt) ;; *) echo "TOKENS: '$_tok' is neither short nor jwt" >&2; exit 1 ;; esac
done
field() { luajit -e "local v = require('cjson').decode(io.read('*a')) print(v$1)"; }
jwt=
case " $tokens " in *" jwt "*)
  jwt=$(curl -s --noproxy '*' ${GRAPHCOMM_CA_FILE:+--cacert "$GRAPHCOMM_CA_FILE"} -X POST -d '{"bytes":1500}' \
    "$GRAPHCOMM_BASE_URL/_emulator/tokens" | field .access_token)
  [ ${#jwt} -gt 1000 ] || { echo "bench: the emulator minted no 1,500-byte token" >&2; exit 1; } ;;
esac
token() { if [ "$1" = jwt ]; then echo "$jwt"; else echo "$GRAPHCOMM_TOKEN"; fi; }
