# bench/openresty_example.sh: sourced by bench/openresty.sh and bench/openresty_bulk.sh
# (with here, the tree, set). Starts an emulator (GRAPHCOMM_BASE_URL, GRAPHCOMM_TOKEN) with
# its request log off, stops it and any example still running on exit, and defines:
#   example_start TOKEN [OPTION...]   starts examples/openresty (run's options) with TOKEN
#                                     as its GRAPHCOMM_TOKEN, so its PATCHes carry TOKEN;
#                                     sets url (http://127.0.0.1:PORT)
#   example_stop                      stops it
# here comes from the sourcing script, which uses url:
# shellcheck shell=sh disable=SC2154,SC2034
emu_dir=""; ex_dir=""
example_stop() {
    if [ -n "$ex_dir" ]; then
        GRAPHCOMM_OPENRESTY_DIR=$ex_dir "$here/examples/openresty/run" stop >/dev/null 2>&1
        ex_dir=""
    fi
}
cleanup() {
    example_stop || :
    [ -n "$emu_dir" ] && "$here/emulator/stop" "$emu_dir" >/dev/null 2>&1
    return 0
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

eval "$("$here/emulator/start")"
emu_dir=$GRAPHCOMM_EMULATOR_DIR
curl -fsS --noproxy '*' -o /dev/null -X POST -d '{"log":false}' "$GRAPHCOMM_BASE_URL/_emulator/config"

example_start() {
    _token=$1; shift
    _out=$(GRAPHCOMM_TOKEN=$_token "$here/examples/openresty/run" start "$GRAPHCOMM_BASE_URL" "$@")
    url=$(printf '%s\n' "$_out" | sed -n 's/^URL=//p')
    ex_dir=$(printf '%s\n' "$_out" | sed -n 's/^GRAPHCOMM_OPENRESTY_DIR=//p')
}
