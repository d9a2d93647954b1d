/* http.c: the libcurl easy transport.  core.http(opts) returns a "graphcomm.http"
 * userdata whose :send(req) performs one HTTP exchange on a kept-alive easy handle
 * (one connection reused per handle, HTTP/2 over TLS when offered).  The option,
 * request and response handling is shared with the multi transport (transfer.c, response.c).
 * No Lua code runs while libcurl works: its callbacks only fill C buffers owned by
 * the userdata, so a Lua error can neither longjmp through libcurl nor strand memory. */
#include <stdlib.h>
#include <string.h>
#include <curl/curl.h>
#include "lua/core.h"
#include "http/transfer.h"

#define HTTP_MT "graphcomm.http"

void gc_open_http(lua_State *L);


typedef struct {
    CURL *easy;
    gc_conn conn;
    gc_xfer xfer;
    struct curl_slist *nodes;   /* the header list's nodes, reused by every request */
    int nnodes;
    int building;               /* 1 while send makes the result (Lua may run: a finalizer) */
    int close_pending;          /* close was asked for meanwhile: done when send ends */
} gc_http;

static void http_free(gc_http *h);

static gc_http *check_open(lua_State *L, int idx)
{
    gc_http *h = luaL_checkudata(L, idx, HTTP_MT);
    if (h->easy == NULL)
        luaL_error(L, "attempt to use a closed transport");
    if (h->building)
        luaL_error(L, "graphcomm: this transport is making a response (called from a finalizer?)");
    return h;
}

/* core.http([opts]) -> graphcomm.http   (opts as in transfer.h) */
static int l_http(lua_State *L)
{
    gc_http *h;
    if (lua_isnoneornil(L, 1)) {
        lua_settop(L, 0);
        lua_newtable(L);
    }
    luaL_checktype(L, 1, LUA_TTABLE);
    lua_settop(L, 1);
    gc_check_option_names(L, 1, "core.http", NULL);
    h = lua_newuserdata(L, sizeof *h);
    memset(h, 0, sizeof *h);
    gc_setmetatable(L, HTTP_MT);
    h->easy = curl_easy_init();
    if (h->easy == NULL)
        return luaL_error(L, "graphcomm: curl_easy_init failed");
    if (gc_easy_setup(L, h->easy, 1, &h->conn) != 0)
        return luaL_error(L, "graphcomm: cannot configure libcurl");
    gc_xfer_attach(h->easy, &h->xfer);
    return 1;
}

/* The request's header list, "Expect:" first (no 100-continue wait), as nodes owned
 * by the transport that point at the request's own strings: one exchange runs within
 * this call, the headers table stays pinned on the stack meanwhile, and libcurl only
 * reads the lines.  So nothing is copied or allocated per request, unlike the multi
 * transport, which copies the lines because its transfers outlive the call.  Raises
 * only before libcurl is involved. */
static struct curl_slist *pinned_headers(lua_State *L, gc_http *h, const gc_req *r)
{
    static char expect[] = "Expect:";
    int i, n = r->nheaders + 1;
    if (n > h->nnodes) {
        struct curl_slist *grown = realloc(h->nodes, (size_t)n * sizeof *grown);
        if (grown == NULL)
            luaL_error(L, "graphcomm: out of memory building headers");
        h->nodes = grown;
        h->nnodes = n;
    }
    h->nodes[0].data = expect;
    for (i = 1; i < n; i++) {
        size_t len;
        h->nodes[i].data = (char *)gc_req_line(L, r, i, &len);   /* kept alive by the table */
        h->nodes[i - 1].next = &h->nodes[i];
    }
    h->nodes[n - 1].next = NULL;
    return h->nodes;
}

/* send's upvalues: the field names (transfer.h) and make_result. */
#define KEYS lua_upvalueindex(1)
#define MAKE_RESULT lua_upvalueindex(2)

/* What make_result reads: the transport and how its exchange ended. */
typedef struct {
    gc_http *h;
    CURLcode rc;
    long connects;
} exchange_end;

/* The result of send, made under lua_pcall (arguments: the exchange_end as a light
 * userdata, the field names): a memory error, or a finalizer's error where those
 * propagate (5.1, 5.3, LuaJIT), leaves send through its own code, which clears the
 * "making a result" mark instead of leaving the transport refusing every call. */
static int make_result(lua_State *L)
{
    const exchange_end *a = lua_touserdata(L, 1);
    gc_http *h = a->h;
    if (a->rc != CURLE_OK) {
        lua_pushnil(L);
        gc_push_failure(L, h->easy, &h->xfer, a->rc);
        return 2;
    }
    gc_push_response(L, 2, h->easy, &h->xfer, h->conn.head);
    gc_push_key(L, 2, GC_K_NEW_CONNECTIONS);
    lua_pushinteger(L, (lua_Integer)a->connects);
    lua_rawset(L, -3);
    return 1;
}

/* http:send(req) -> resp | nil, err   (the transport interface in HACKING.md).
 * resp.new_connections is 0 when the kept-alive connection served the request. */
static int l_send(lua_State *L)
{
    gc_http *h = check_open(L, 1);
    gc_req r;
    struct curl_slist *list;
    exchange_end a;
    int top, status;
    lua_settop(L, 2);
    gc_req_read(L, 2, KEYS, &h->conn, &r);           /* the request's strings stay pinned above */
    list = pinned_headers(L, h, &r);
    /* From here to the response nothing may raise a Lua error. */
    gc_req_apply(h->easy, &h->xfer, &r, list);
    gc_xfer_reset(&h->xfer, h->conn.max_body);
    a.h = h;
    a.connects = 0;
    a.rc = curl_easy_perform(h->easy);
    curl_easy_setopt(h->easy, CURLOPT_HTTPHEADER, NULL);   /* the strings are not ours to keep */
    if (a.rc == CURLE_OK)
        curl_easy_getinfo(h->easy, CURLINFO_NUM_CONNECTS, &a.connects);
    /* Any allocation below may run a finalizer that closes this transport: the handle
     * and the collector it reads stay until the result is made (l_close).  The values
     * pushed before the call allocate nothing. */
    h->building = 1;
    top = lua_gettop(L);
    lua_pushvalue(L, MAKE_RESULT);
    lua_pushlightuserdata(L, &a);
    lua_pushvalue(L, KEYS);
    status = lua_pcall(L, 2, LUA_MULTRET, 0);
    gc_xfer_trim(&h->xfer);
    h->building = 0;
    if (h->close_pending)
        http_free(h);
    if (status != 0)
        return lua_error(L);
    return lua_gettop(L) - top;
}

/* Frees what the transport holds; idempotent. */
static void http_free(gc_http *h)
{
    h->building = h->close_pending = 0;
    if (h->easy != NULL) {
        curl_easy_cleanup(h->easy);
        h->easy = NULL;
    }
    gc_xfer_free(&h->xfer);
    free(h->nodes);
    h->nodes = NULL;
    h->nnodes = 0;
}

/* close and __close (idempotent): while send makes a result, done when it ends. */
static int l_close(lua_State *L)
{
    gc_http *h = luaL_checkudata(L, 1, HTTP_MT);
    if (h->building)
        h->close_pending = 1;
    else
        http_free(h);
    return 0;
}

/* __gc: the object is unreachable, so no send of it is running. */
static int l_gc(lua_State *L)
{
    http_free(luaL_checkudata(L, 1, HTTP_MT));
    return 0;
}

static int l_tostring(lua_State *L)
{
    gc_http *h = luaL_checkudata(L, 1, HTTP_MT);
    if (h->easy == NULL)
        lua_pushliteral(L, HTTP_MT " (closed)");
    else
        lua_pushfstring(L, HTTP_MT " (%p)", (void *)h);
    return 1;
}

static const luaL_Reg http_methods[] = {
    { "close", l_close },               /* send, with its upvalue: gc_open_http */
    { NULL, NULL }
};

static const luaL_Reg http_meta[] = {
    { "__gc", l_gc },
    { "__close", l_close },
    { "__tostring", l_tostring },
    { NULL, NULL }
};

void gc_open_http(lua_State *L)
{
    gc_new_class(L, HTTP_MT, http_meta, http_methods);
    luaL_getmetatable(L, HTTP_MT);
    lua_getfield(L, -1, "__index");
    gc_push_keys(L);
    lua_pushcfunction(L, make_result);
    lua_pushcclosure(L, l_send, 2);
    lua_setfield(L, -2, "send");
    lua_pop(L, 2);
    lua_pushcfunction(L, l_http);
    lua_setfield(L, -2, "http");
}
