/* response.c: a finished transfer of either transport as Lua values: the
 * response table, its header block as a table, or the transport error object
 * (shapes in transfer.h; the collector that filled gc_xfer is transfer.c). */
#include <string.h>
#include "http/transfer.h"

static const char *curl_code_name(CURLcode rc, int too_big)
{
    if (too_big)
        return "too_large";
    switch (rc) {
    case CURLE_COULDNT_RESOLVE_HOST: return "couldnt_resolve_host";
    case CURLE_COULDNT_RESOLVE_PROXY: return "couldnt_resolve_proxy";
    case CURLE_COULDNT_CONNECT: return "couldnt_connect";
    case CURLE_OPERATION_TIMEDOUT: return "timeout";
    case CURLE_SSL_CONNECT_ERROR: return "tls_connect";
    case CURLE_PEER_FAILED_VERIFICATION: return "tls_verify";
    case CURLE_SSL_CACERT_BADFILE: return "tls_ca_file";
    case CURLE_SEND_ERROR: return "send";
    case CURLE_RECV_ERROR: return "recv";
    case CURLE_GOT_NOTHING: return "empty_reply";
    case CURLE_PARTIAL_FILE: return "partial";
    case CURLE_HTTP2: case CURLE_HTTP2_STREAM: return "http2";
    case CURLE_OUT_OF_MEMORY: return "no_memory";
    case CURLE_UNSUPPORTED_PROTOCOL: return "unsupported_protocol";
    case CURLE_URL_MALFORMAT: return "bad_url";
    default: return "curl";
    }
}

/* Whether a status line came back before the failure: the server answered, so it
 * may have acted, and the request must not be sent again. */
static int answered(CURL *e)
{
    long status = 0;
    curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &status);
    return status != 0;
}

/* Failures where the request never reached the server, or the connection broke
 * before an answer: safe and useful to retry. */
static int retryable(CURL *e, CURLcode rc)
{
    curl_off_t connect = 0;
    if (answered(e))
        return 0;
    switch (rc) {
    case CURLE_COULDNT_CONNECT: case CURLE_SEND_ERROR: case CURLE_RECV_ERROR:
    case CURLE_GOT_NOTHING: case CURLE_PARTIAL_FILE: case CURLE_HTTP2:
    case CURLE_HTTP2_STREAM:
        return 1;
    case CURLE_OPERATION_TIMEDOUT:
        curl_easy_getinfo(e, CURLINFO_CONNECT_TIME_T, &connect);
        return connect == 0;
    default:
        return 0;
    }
}

static void set_str(lua_State *L, const char *k, const char *v)
{
    lua_pushstring(L, v);
    lua_setfield(L, -2, k);
}

/* Pushes a transport error object (metatable "graphcomm.error"). */
void gc_push_failure(lua_State *L, CURL *e, gc_xfer *x, CURLcode rc)
{
    const char *why = x->errbuf[0] ? x->errbuf : curl_easy_strerror(rc);
    lua_createtable(L, 0, 7);
    set_str(L, "kind", "transport");
    set_str(L, "code", curl_code_name(rc, x->too_big));
    if (x->too_big)
        lua_pushfstring(L, "response body larger than %d bytes refused", (int)x->max_body);
    else if (x->no_memory)
        lua_pushliteral(L, "out of memory while receiving the response");
    else
        lua_pushstring(L, why);
    lua_setfield(L, -2, "message");
    lua_pushinteger(L, (lua_Integer)rc);
    lua_setfield(L, -2, "curl_code");
    lua_pushboolean(L, !x->too_big && !x->no_memory && retryable(e, rc));
    lua_setfield(L, -2, "retryable");
    lua_pushboolean(L, answered(e));
    lua_setfield(L, -2, "answered");
    gc_setmetatable(L, "graphcomm.error");
}

static void lower(char *p, size_t n)
{
    size_t i;
    for (i = 0; i < n; i++)
        if (p[i] >= 'A' && p[i] <= 'Z')
            p[i] = (char)(p[i] + 32);
}

/* Adds one "Name: value" line to the table at -1; repeated names are joined by ", ". */
static void push_header_line(lua_State *L, char *line, size_t n)
{
    char *colon = memchr(line, ':', n);
    const char *v;
    size_t nlen, vlen;
    if (colon == NULL || colon == line)
        return;
    nlen = (size_t)(colon - line);
    lower(line, nlen);
    v = colon + 1;
    vlen = n - nlen - 1;
    while (vlen > 0 && (*v == ' ' || *v == '\t'))
        v++, vlen--;
    while (vlen > 0 && (v[vlen - 1] == ' ' || v[vlen - 1] == '\t'))
        vlen--;
    lua_pushlstring(L, line, nlen);
    lua_pushvalue(L, -1);
    lua_rawget(L, -3);
    if (lua_isnil(L, -1) || gc_rawlen(L, -1) == 0) {
        lua_pop(L, 1);
        lua_pushlstring(L, v, vlen);
    } else if (vlen == 0) {
        lua_pop(L, 2);          /* an empty repeat adds nothing (no "a, ") */
        return;
    } else {
        lua_pushliteral(L, ", ");
        lua_pushlstring(L, v, vlen);
        lua_concat(L, 3);
    }
    lua_rawset(L, -3);
}

void gc_push_header_block(lua_State *L, char *data, size_t len)
{
    char *p = data, *end = len ? data + len : data;
    int first = 1;
    lua_createtable(L, 0, 12);
    while (p < end) {
        char *nl = memchr(p, '\n', (size_t)(end - p));
        char *stop = nl ? nl : end;
        size_t n = (size_t)(stop - p);
        if (n > 0 && p[n - 1] == '\r')
            n--;
        if (!first && n > 0)
            push_header_line(L, p, n);
        first = 0;
        p = nl ? nl + 1 : end;
    }
}

void gc_push_response(lua_State *L, CURL *e, gc_xfer *x)
{
    long status = 0, version = 0;
    curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &status);
    curl_easy_getinfo(e, CURLINFO_HTTP_VERSION, &version);
    /* Room for a fifth field a transport adds (http.c: new_connections): a full
     * table would be rehashed for it on every request. */
    lua_createtable(L, 0, 5);
    lua_pushinteger(L, (lua_Integer)status);
    lua_setfield(L, -2, "status");
    gc_push_header_block(L, x->head.data, x->head.len);
    lua_setfield(L, -2, "headers");
    lua_pushlstring(L, x->body.data ? x->body.data : "", x->body.len);
    lua_setfield(L, -2, "body");
    lua_pushnumber(L, version == CURL_HTTP_VERSION_2_0 ? 2 : version == CURL_HTTP_VERSION_1_0 ? 1.0
                   : version == 30 ? 3 : 1.1);
    lua_setfield(L, -2, "http_version");
}
