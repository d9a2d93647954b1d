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

/* One header line: its name (before the colon, not empty) and its value without
 * blanks at either end; 0 for a line without a name. */
static int split_line(const char *line, size_t n, size_t *nlen, const char **v, size_t *vlen)
{
    const char *colon = memchr(line, ':', n);
    if (colon == NULL || colon == line)
        return 0;
    *nlen = (size_t)(colon - line);
    *v = colon + 1;
    *vlen = n - *nlen - 1;
    while (*vlen > 0 && (**v == ' ' || **v == '\t'))
        (*v)++, (*vlen)--;
    while (*vlen > 0 && ((*v)[*vlen - 1] == ' ' || (*v)[*vlen - 1] == '\t'))
        (*vlen)--;
    return 1;
}

/* The header lines of a block: every line after the first (the status line),
 * without its CR; fn is called with each one's name and value. */
typedef void (*header_fn)(lua_State *L, int t, const char *name, size_t nlen,
                          const char *v, size_t vlen);

static void each_header(lua_State *L, int t, const char *data, size_t len, header_fn fn)
{
    const char *p = data, *end = len ? data + len : data;
    int first = 1;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *stop = nl ? nl : end;
        size_t n = (size_t)(stop - p), nlen, vlen;
        const char *v;
        if (n > 0 && p[n - 1] == '\r')
            n--;
        if (!first && n > 0 && split_line(p, n, &nlen, &v, &vlen))
            fn(L, t, p, nlen, v, vlen);
        first = 0;
        p = nl ? nl + 1 : end;
    }
}

/* t[key] (the key on top of the stack, popped) takes the value v; a repeated name
 * is joined by ", ", and an empty repeat adds nothing (no "a, "). */
static void merge(lua_State *L, int t, const char *v, size_t vlen)
{
    lua_pushvalue(L, -1);
    lua_rawget(L, t);
    if (lua_isnil(L, -1) || gc_rawlen(L, -1) == 0) {
        lua_pop(L, 1);
        lua_pushlstring(L, v, vlen);
    } else if (vlen == 0) {
        lua_pop(L, 2);
        return;
    } else {
        lua_pushliteral(L, ", ");
        lua_pushlstring(L, v, vlen);
        lua_concat(L, 3);
    }
    lua_rawset(L, t);
}

static void put_header(lua_State *L, int t, const char *name, size_t nlen,
                       const char *v, size_t vlen)
{
    lua_pushlstring(L, name, nlen);
    merge(L, t, v, vlen);
}

/* Whether name[0..nlen) is lit (lower-case) in any case. */
static int is_name(const char *name, size_t nlen, const char *lit, size_t llen)
{
    size_t i;
    if (nlen != llen)
        return 0;
    for (i = 0; i < nlen; i++) {
        char c = name[i];
        if (c >= 'A' && c <= 'Z')
            c = (char)(c + 32);
        if (c != lit[i])
            return 0;
    }
    return 1;
}

#define IS(name, nlen, lit) is_name(name, nlen, lit, sizeof(lit) - 1)

/* The two ids every result reports, as resp.request_id and resp.client_request_id:
 * read without building the headers table. */
static void put_id(lua_State *L, int t, const char *name, size_t nlen,
                   const char *v, size_t vlen)
{
    if (IS(name, nlen, "request-id"))
        lua_pushliteral(L, "request_id");
    else if (IS(name, nlen, "client-request-id"))
        lua_pushliteral(L, "client_request_id");
    else
        return;
    merge(L, t, v, vlen);
}

/* The header names of a block lower-cased in place (the status line as it is). */
static void lower_names(char *data, size_t len)
{
    char *p = data, *end = len ? data + len : data;
    int first = 1;
    while (p < end) {
        char *nl = memchr(p, '\n', (size_t)(end - p));
        char *stop = nl ? nl : end;
        char *colon = first ? NULL : memchr(p, ':', (size_t)(stop - p));
        if (colon != NULL)
            lower(p, (size_t)(colon - p));
        first = 0;
        p = nl ? nl + 1 : end;
    }
}

void gc_push_header_block(lua_State *L, char *data, size_t len)
{
    lower_names(data, len);
    lua_createtable(L, 0, 12);
    each_header(L, lua_gettop(L), data, len, put_header);
}

/* __index of a response: resp.headers is built from resp.head on first use and
 * kept in resp (most answers are read for their status and ids only). */
static int l_response_index(lua_State *L)
{
    size_t len;
    const char *head;
    char *copy;
    if (lua_type(L, 2) != LUA_TSTRING || strcmp(lua_tostring(L, 2), "headers") != 0)
        return 0;
    lua_pushliteral(L, "head");
    lua_rawget(L, 1);                   /* 3: the block, anchored on the stack */
    head = lua_tolstring(L, 3, &len);
    if (head == NULL)
        return 0;
    copy = lua_newuserdata(L, len ? len : 1);   /* 4: names are lower-cased in a copy */
    memcpy(copy, head, len);
    gc_push_header_block(L, copy, len);
    lua_pushliteral(L, "headers");
    lua_pushvalue(L, -2);
    lua_rawset(L, 1);
    return 1;
}

#define RESPONSE_MT "graphcomm.response"

void gc_push_response(lua_State *L, CURL *e, gc_xfer *x)
{
    long status = 0, version = 0;
    int t;
    curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &status);
    curl_easy_getinfo(e, CURLINFO_HTTP_VERSION, &version);
    /* Room for every field: status, head, body, http_version, the two ids, one a
     * transport adds (http.c: new_connections) and headers once built (a full
     * table would be rehashed on every request). */
    lua_createtable(L, 0, 8);
    t = lua_gettop(L);
    lua_pushinteger(L, (lua_Integer)status);
    lua_setfield(L, t, "status");
    lua_pushlstring(L, x->head.data ? x->head.data : "", x->head.len);
    lua_setfield(L, t, "head");
    each_header(L, t, x->head.data, x->head.len, put_id);
    lua_pushlstring(L, x->body.data ? x->body.data : "", x->body.len);
    lua_setfield(L, t, "body");
    lua_pushnumber(L, version == CURL_HTTP_VERSION_2_0 ? 2 : version == CURL_HTTP_VERSION_1_0 ? 1.0
                   : version == 30 ? 3 : 1.1);
    lua_setfield(L, t, "http_version");
    if (luaL_newmetatable(L, RESPONSE_MT)) {
        lua_pushcfunction(L, l_response_index);
        lua_setfield(L, -2, "__index");
    }
    lua_setmetatable(L, t);
}
