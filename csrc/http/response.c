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

/* Names a block can tell apart without asking Lua; a block with more header lines
 * than this asks rawget for the rest (correct either way, only slower). */
#define SEEN_MAX 48

/* The table one header block fills, and what the pass over it has seen so far. */
typedef struct block {
    lua_State *L;
    int headers;                /* the headers table (absolute index) */
    int resp, keys;             /* the response and the key list; 0 for no response */
    int nseen;
    const char *seen[SEEN_MAX]; /* the names met so far, lower-cased in the block */
    size_t seen_len[SEEN_MAX];
} block;

/* 1 when name (lower-case) may already be in the table: met before in this block,
 * or no room left to remember it; otherwise it is remembered and 0 returned. */
static int repeated(block *b, const char *name, size_t nlen)
{
    int i;
    for (i = 0; i < b->nseen; i++)
        if (b->seen_len[i] == nlen && memcmp(b->seen[i], name, nlen) == 0)
            return 1;
    if (b->nseen == SEEN_MAX)
        return 1;
    b->seen[b->nseen] = name;
    b->seen_len[b->nseen++] = nlen;
    return 0;
}

/* The value a repeated name (the key on top of the stack) takes: what the table
 * holds joined by ", " with v, or v when it holds nothing or "".  Pushes it and
 * returns 1, or pushes nothing and returns 0 for an empty repeat (no "a, "). */
static int joined(lua_State *L, int t, const char *v, size_t vlen)
{
    lua_pushvalue(L, -1);
    lua_rawget(L, t);
    if (lua_isnil(L, -1) || gc_rawlen(L, -1) == 0) {
        lua_pop(L, 1);
        lua_pushlstring(L, v, vlen);
    } else if (vlen == 0) {
        lua_pop(L, 1);
        return 0;
    } else {
        lua_pushliteral(L, ", ");
        lua_pushlstring(L, v, vlen);
        lua_concat(L, 3);
    }
    return 1;
}

/* The key of a common header name (lower-case), or 0: such a name is pushed from
 * the key list rather than made into a string for every response. */
static int name_key(const char *n, size_t len)
{
#define IS(lit, k) if (memcmp(n, lit, len) == 0) return k
    switch (len) {
    case 4: IS("date", GC_K_H_DATE); IS("vary", GC_K_H_VARY); break;
    case 6: IS("server", GC_K_H_SERVER); break;
    case 8: IS("location", GC_K_H_LOCATION); break;
    case 10: IS("request-id", GC_K_H_REQUEST_ID); IS("connection", GC_K_H_CONNECTION); break;
    case 11: IS("retry-after", GC_K_H_RETRY_AFTER); break;
    case 12: IS("content-type", GC_K_H_CONTENT_TYPE); break;
    case 13: IS("cache-control", GC_K_H_CACHE_CONTROL); IS("odata-version", GC_K_H_ODATA_VERSION);
        break;
    case 14: IS("content-length", GC_K_H_CONTENT_LENGTH); break;
    case 16: IS("content-encoding", GC_K_H_CONTENT_ENCODING); break;
    case 17: IS("client-request-id", GC_K_H_CLIENT_REQUEST_ID);
        IS("transfer-encoding", GC_K_H_TRANSFER_ENCODING); break;
    case 19: IS("x-ms-ags-diagnostic", GC_K_H_DIAGNOSTIC); break;
    case 25: IS("strict-transport-security", GC_K_H_STRICT_TRANSPORT_SECURITY); break;
    default: break;
    }
#undef IS
    return 0;
}

/* headers[name] = v (joined with an earlier value of the name); with a response,
 * request-id and client-request-id also set resp.request_id / client_request_id
 * to the same string, so the two always agree. */
static void put_header(block *b, const char *name, size_t nlen, const char *v, size_t vlen)
{
    lua_State *L = b->L;
    int k = b->keys != 0 ? name_key(name, nlen) : 0;
    int id = k == GC_K_H_REQUEST_ID ? GC_K_REQUEST_ID
        : k == GC_K_H_CLIENT_REQUEST_ID ? GC_K_CLIENT_REQUEST_ID : 0;
    if (k != 0)
        gc_push_key(L, b->keys, k);
    else
        lua_pushlstring(L, name, nlen);
    if (!repeated(b, name, nlen))
        lua_pushlstring(L, v, vlen);
    else if (!joined(L, b->headers, v, vlen)) {
        lua_pop(L, 1);
        return;
    }
    if (id != 0) {
        gc_push_key(L, b->keys, id);
        lua_pushvalue(L, -2);
        lua_rawset(L, b->resp);
    }
    lua_rawset(L, b->headers);
}

/* One pass over a header block: every line after the first (the status line),
 * without its CR, that has a name; the name is lower-cased in place, then put. */
static void each_header(block *b, char *data, size_t len)
{
    char *p = data, *end = len ? data + len : data;
    int first = 1;
    while (p < end) {
        char *nl = memchr(p, '\n', (size_t)(end - p));
        char *stop = nl ? nl : end;
        size_t n = (size_t)(stop - p), nlen, vlen;
        const char *v;
        if (n > 0 && p[n - 1] == '\r')
            n--;
        if (!first && n > 0 && split_line(p, n, &nlen, &v, &vlen)) {
            lower(p, nlen);
            put_header(b, p, nlen, v, vlen);
        }
        first = 0;
        p = nl ? nl + 1 : end;
    }
}

/* The header lines of a block: every non-empty line but the status line. */
static int count_lines(const char *data, size_t len)
{
    const char *p = data, *end = len ? data + len : data;   /* data may be NULL */
    int n = 0;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *stop = nl ? nl : end;
        if (stop > p && !(stop - p == 1 && *p == '\r'))
            n++;
        p = nl ? nl + 1 : end;
    }
    return n > 0 ? n - 1 : 0;
}

/* Pushes a headers table sized for the block's lines (a repeated name or a line
 * without one only leaves room unused) and fills it from data[0..len). */
static void push_headers(block *b, char *data, size_t len)
{
    lua_createtable(b->L, 0, count_lines(data, len));
    b->headers = lua_gettop(b->L);
    b->nseen = 0;
    each_header(b, data, len);
}

void gc_push_header_block(lua_State *L, char *data, size_t len)
{
    block b;
    b.L = L;
    b.resp = b.keys = 0;
    push_headers(&b, data, len);
}

void gc_push_response(lua_State *L, int keys, CURL *e, gc_xfer *x, int with_head)
{
    long status = 0, version = 0;
    block b;
    curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &status);
    curl_easy_getinfo(e, CURLINFO_HTTP_VERSION, &version);
    /* Room for every field: status, head, headers, body, http_version, the two ids
     * and one a transport adds (http.c: new_connections); a full table would be
     * rehashed on every request. */
    lua_createtable(L, 0, 8);
    b.L = L;
    b.resp = lua_gettop(L);
    b.keys = keys;
    gc_push_key(L, keys, GC_K_STATUS);
    lua_pushinteger(L, (lua_Integer)status);
    lua_rawset(L, b.resp);
    if (with_head) {    /* a copy as received: the names are lower-cased in x->head next */
        gc_push_key(L, keys, GC_K_HEAD);
        lua_pushlstring(L, x->head.data ? x->head.data : "", x->head.len);
        lua_rawset(L, b.resp);
    }
    gc_push_key(L, keys, GC_K_HEADERS);
    push_headers(&b, x->head.data, x->head.len);
    lua_rawset(L, b.resp);
    gc_push_key(L, keys, GC_K_BODY);
    if (x->body.len == 0)
        gc_push_key(L, keys, GC_K_EMPTY);
    else
        lua_pushlstring(L, x->body.data, x->body.len);
    lua_rawset(L, b.resp);
    gc_push_key(L, keys, GC_K_HTTP_VERSION);
    lua_pushnumber(L, version == CURL_HTTP_VERSION_2_0 ? 2 : version == CURL_HTTP_VERSION_1_0 ? 1.0
                   : version == 30 ? 3 : 1.1);
    lua_rawset(L, b.resp);
}
