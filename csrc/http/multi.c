/* multi.c: the libcurl multi transport behind bulk updates. Many requests are
 * in flight on one thread: HTTP/2 streams multiplexed on one connection where
 * the server offers h2 (over TLS), several kept-alive HTTP/1.1 connections
 * otherwise. Easy handles live in slots that are reused, so connections and
 * buffers are too.
 *
 *   local m = core.multi{ concurrency = 16, <the easy transport's options: transfer.h> }
 *   m:add(req, key)            -- req as for the easy transport; key: any value but nil
 *   local n, out = m:poll(timeout_s [, out [, want [, linger_s]]])
 *                              -- waits up to timeout_s for transfers to end: returns when
 *                              -- `want` (1) have, or linger_s (0) after the first did;
 *                              -- out[3k-2], out[3k-1], out[3k] = key, resp | nil, err | nil
 *   m:pending()                -- transfers in flight
 *   m:stats()                  -- { requests = n, connections = n (opened so far) }
 *   m:close()                  -- also __gc and __close; idempotent
 *
 * No Lua code runs while libcurl works: keys and bodies sit in the object's
 * uservalue (bodies pinned there, since libcurl reads them in place), and
 * results are turned into Lua values only after libcurl returns. The wait for
 * sockets and timers is events.c's (epoll on Linux). */
#include <stdlib.h>
#include <string.h>
#include "lua/core.h"
#include "http/events.h"
#include "http/transfer.h"

#define MULTI_MT "graphcomm.multi"

void gc_open_multi(lua_State *L);

#if LUA_VERSION_NUM >= 502
#define get_refs(L, i) ((void)lua_getuservalue(L, i))
#define set_refs(L, i) lua_setuservalue(L, i)
#else
#define get_refs(L, i) lua_getfenv(L, i)
#define set_refs(L, i) ((void)lua_setfenv(L, i))
#endif

enum { SLOT_FREE, SLOT_BUSY, SLOT_DONE };

/* One easy handle and what a transfer on it needs; refs[2*id-1] holds the
 * caller's key and refs[2*id] the pinned body while the slot is busy. */
typedef struct slot {
    CURL *easy;
    gc_headers headers;    /* the current request's header list */
    gc_xfer x;
    CURLcode result;
    int id, state;
    int pipewait;          /* CURLOPT_PIPEWAIT as last set: 0 not known, 1 off, 2 on */
} slot;

typedef struct gc_multi {
    CURLM *cm;
    CURL *tmpl;            /* configured once from the options; slots are copies */
    slot **slots;          /* slots[id - 1] */
    int *spare;            /* ids free for reuse (a stack) */
    int *done;             /* ids finished but not yet handed to Lua (a queue) */
    int nslots, cap, nspare, ndone, inflight;
    long concurrency;
    int delivering;        /* 1 while poll turns results into Lua values (Lua may run) */
    int close_pending;     /* close was asked for meanwhile: done when poll ends */
    lua_Integer requests, connections;
    gc_conn conn;
    gc_events ev;
} gc_multi;

/* ---------------------------------------------------------------- lifetime */

static gc_multi *check_multi(lua_State *L)
{
    gc_multi *m = luaL_checkudata(L, 1, MULTI_MT);
    if (m->cm == NULL)
        luaL_error(L, "attempt to use a closed multi");
    if (m->delivering)
        luaL_error(L, "graphcomm: this multi is delivering results (called from a finalizer?)");
    if (gc_events_inherited(&m->ev))
        luaL_error(L, "graphcomm: this multi was made before a fork(): make a new one in this process");
    return m;
}

static void slot_free(gc_multi *m, slot *s)
{
    if (s->state == SLOT_BUSY)
        curl_multi_remove_handle(m->cm, s->easy);
    curl_easy_cleanup(s->easy);
    gc_headers_free(&s->headers);
    gc_xfer_free(&s->x);
    free(s);
}

/* Frees everything the multi holds (the object at 1); idempotent. */
static void multi_free(lua_State *L, gc_multi *m)
{
    int i;
    m->delivering = m->close_pending = 0;
    if (m->cm == NULL && m->tmpl == NULL)   /* closed, or failed half-way through core.multi */
        return;
    for (i = 0; i < m->nslots; i++)
        slot_free(m, m->slots[i]);
    free(m->slots);
    free(m->spare);
    free(m->done);
    m->slots = NULL;
    m->spare = m->done = NULL;
    m->nslots = m->cap = m->nspare = m->ndone = m->inflight = 0;
    curl_multi_cleanup(m->cm);     /* may still close sockets through m->ev */
    m->cm = NULL;
    curl_easy_cleanup(m->tmpl);
    m->tmpl = NULL;
    gc_events_free(&m->ev);
    lua_newtable(L);               /* let go of keys and bodies */
    set_refs(L, 1);
}

/* close and __close: while poll delivers (a finalizer may run at any allocation and
 * close the multi) the slots it reads stay until poll ends, which closes then. */
static int l_close(lua_State *L)
{
    gc_multi *m = luaL_checkudata(L, 1, MULTI_MT);
    if (m->delivering)
        m->close_pending = 1;
    else
        multi_free(L, m);
    return 0;
}

/* __gc: the object is unreachable, so no poll of it is running. */
static int l_gc(lua_State *L)
{
    multi_free(L, luaL_checkudata(L, 1, MULTI_MT));
    return 0;
}

static int l_tostring(lua_State *L)
{
    gc_multi *m = luaL_checkudata(L, 1, MULTI_MT);
    if (m->cm == NULL)
        lua_pushliteral(L, "graphcomm.multi (closed)");
    else
        lua_pushfstring(L, "graphcomm.multi (%p)", (void *)m);
    return 1;
}

static void setup_multi(lua_State *L, gc_multi *m)
{
    int err;
    if ((m->cm = curl_multi_init()) == NULL)
        luaL_error(L, "graphcomm: curl_multi_init failed");
    if ((err = gc_events_init(&m->ev, m->cm)) != 0)
        luaL_error(L, "graphcomm: cannot wait for sockets: %s", strerror(err));
    gc_events_easy(&m->ev, m->tmpl);   /* slots are copies of tmpl */
    curl_multi_setopt(m->cm, CURLMOPT_PIPELINING, (long)CURLPIPE_MULTIPLEX);
    /* One host: concurrency HTTP/1.1 connections at most, all kept alive. */
    curl_multi_setopt(m->cm, CURLMOPT_MAX_HOST_CONNECTIONS, m->concurrency);
    curl_multi_setopt(m->cm, CURLMOPT_MAXCONNECTS, m->concurrency);
}

/* core.multi(opts) */
static int l_multi(lua_State *L)
{
    static const char *const own_names[] = { "concurrency", NULL };
    gc_multi *m;
    lua_Number conc;
    if (lua_isnoneornil(L, 1))
        lua_newtable(L);
    luaL_checktype(L, 1, LUA_TTABLE);
    lua_settop(L, 1);
    gc_check_option_names(L, 1, "core.multi", own_names);
    lua_getfield(L, 1, "concurrency");
    conc = luaL_optnumber(L, -1, 16);
    lua_pop(L, 1);
    if (!(conc >= 1 && conc <= 4096))
        return luaL_error(L, "graphcomm: concurrency must be a number from 1 to 4096");
    m = lua_newuserdata(L, sizeof *m);
    memset(m, 0, sizeof *m);
    gc_events_zero(&m->ev);
    m->concurrency = (long)conc;
    gc_setmetatable(L, MULTI_MT);  /* __gc from here on: nothing below can leak */
    lua_newtable(L);
    set_refs(L, -2);
    if ((m->tmpl = curl_easy_init()) == NULL)
        return luaL_error(L, "graphcomm: curl_easy_init failed");
    if (gc_easy_setup(L, m->tmpl, 1, &m->conn) != 0)
        return luaL_error(L, "graphcomm: cannot configure libcurl");
    setup_multi(L, m);
    return 1;
}

/* ---------------------------------------------------------------- slots */

static void grow(lua_State *L, gc_multi *m)
{
    int cap = m->cap ? m->cap * 2 : 16;
    void *p;
    if ((p = realloc(m->slots, (size_t)cap * sizeof *m->slots)) == NULL)
        luaL_error(L, "graphcomm: out of memory");
    m->slots = p;
    if ((p = realloc(m->spare, (size_t)cap * sizeof *m->spare)) == NULL)
        luaL_error(L, "graphcomm: out of memory");
    m->spare = p;
    if ((p = realloc(m->done, (size_t)cap * sizeof *m->done)) == NULL)
        luaL_error(L, "graphcomm: out of memory");
    m->done = p;
    m->cap = cap;
}

/* A new slot whose handle copies the template's options (strings included). */
static slot *new_slot(lua_State *L, gc_multi *m)
{
    slot *s;
    if (m->nslots == m->cap)
        grow(L, m);
    if ((s = calloc(1, sizeof *s)) == NULL)
        luaL_error(L, "graphcomm: out of memory");
    if ((s->easy = curl_easy_duphandle(m->tmpl)) == NULL) {
        free(s);
        luaL_error(L, "graphcomm: curl_easy_duphandle failed");
    }
    s->id = m->nslots + 1;
    m->slots[m->nslots++] = s;     /* owned by m from here on */
    gc_xfer_attach(s->easy, &s->x);
    curl_easy_setopt(s->easy, CURLOPT_PRIVATE, s);
    m->spare[m->nspare++] = s->id;
    return s;
}

static slot *take_slot(lua_State *L, gc_multi *m)
{
    if (m->nspare == 0)
        new_slot(L, m);
    return m->slots[m->spare[m->nspare - 1] - 1];
}

/* The field names (transfer.h): the upvalue of add and poll; poll's second: deliver_all. */
#define KEYS lua_upvalueindex(1)
#define DELIVER_ALL lua_upvalueindex(2)

/* m:add(req, key) */
static int l_add(lua_State *L)
{
    gc_multi *m = check_multi(L);
    struct curl_slist *list;
    CURLMcode mc;
    gc_req r;
    slot *s;
    int pipewait;
    luaL_checktype(L, 2, LUA_TTABLE);
    luaL_argcheck(L, !lua_isnoneornil(L, 3), 3, "a key is required");
    lua_settop(L, 3);
    get_refs(L, 1);                /* 4; the request's values follow at 5..8 */
    gc_req_read(L, 2, KEYS, &m->conn, &r);
    s = take_slot(L, m);
    lua_pushvalue(L, 3);
    lua_rawseti(L, 4, 2 * s->id - 1);
    lua_pushvalue(L, 7);           /* the body, pinned: libcurl reads it in place */
    lua_rawseti(L, 4, 2 * s->id);
    /* From here on nothing raises until the handle is added. */
    if ((list = gc_req_headers(L, &r, &s->headers)) == NULL) {
        curl_easy_setopt(s->easy, CURLOPT_HTTPHEADER, NULL);   /* the old list may be gone */
        return luaL_error(L, "graphcomm: out of memory building headers");
    }
    gc_xfer_reset(&s->x, m->conn.max_body);
    gc_req_apply(s->easy, &s->x, &r, list);
    /* Over TLS a transfer waits for a connection that may multiplex (h2) rather
     * than open another; plain http is HTTP/1.1 here, one request a connection. */
    pipewait = strncmp(r.url, "https:", 6) == 0 ? 2 : 1;
    if (s->pipewait != pipewait)
        s->pipewait = curl_easy_setopt(s->easy, CURLOPT_PIPEWAIT, pipewait == 2 ? 1L : 0L)
            == CURLE_OK ? pipewait : 0;
    if ((mc = curl_multi_add_handle(m->cm, s->easy)) != CURLM_OK)
        return luaL_error(L, "graphcomm: curl_multi_add_handle: %s", curl_multi_strerror(mc));
    m->nspare--;
    s->state = SLOT_BUSY;
    m->inflight++;
    m->requests++;
    return 0;
}

/* ---------------------------------------------------------------- polling */

/* Moves every finished transfer from libcurl to the done queue (no Lua here). */
static void collect(gc_multi *m)
{
    CURLMsg *msg;
    int left;
    while ((msg = curl_multi_info_read(m->cm, &left)) != NULL) {
        char *priv = NULL;
        slot *s;
        long conns = 0;
        if (msg->msg != CURLMSG_DONE)
            continue;
        curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, &priv);
        s = (slot *)(void *)priv;
        s->result = msg->data.result;
        curl_easy_getinfo(s->easy, CURLINFO_NUM_CONNECTS, &conns);
        m->connections += conns;
        curl_multi_remove_handle(m->cm, s->easy);
        s->state = SLOT_DONE;
        m->inflight--;
        m->done[m->ndone++] = s->id;
    }
}

/* Lets libcurl work until `want` transfers have ended, or `linger` seconds
 * after the first one ended, or the time is up (CURLM_OK), or libcurl fails.
 * Waiting for a few answers rather than one means fewer wake-ups per request
 * when the server is the bottleneck; it costs no throughput as long as requests
 * stay queued there. Each round is one gc_events_wait: libcurl acts on what is
 * due and ready. System calls per item against a server answering after 20 ms
 * (bench/multi_syscalls.sh; bench/README.md, "The multi loop"): 5.8-6.7 from 1
 * to 256 in flight with events.c's epoll loop; the curl_multi_perform +
 * curl_multi_poll loop it replaced gave 7.1 at 1, 8.5-17.4 at 16 and 64 (every
 * wake-up polled every socket, then libcurl checked each again), 7.1-8 at 256.
 * User-space instructions per item are the same within 2% either way. */
static CURLMcode drive(gc_multi *m, double timeout, int want, double linger)
{
    double now = gc_now_s(), deadline = now + timeout, settle = -1, until;
    CURLMcode mc;
    int first;
    for (first = 1;; first = 0) {
        collect(m);
        if (m->inflight == 0 || m->ndone >= want || m->ev.err != 0)
            return CURLM_OK;
        now = gc_now_s();
        if (m->ndone > 0 && settle < 0)
            settle = now + linger;
        until = settle >= 0 && settle < deadline ? settle : deadline;
        if (until <= now && !first)    /* the first round looks even when the time is up */
            return CURLM_OK;
        if ((mc = gc_events_wait(&m->ev, until - now)) != CURLM_OK)
            return mc;
    }
}

/* Hands one finished slot to Lua as out[base+1..base+3]; the slot is spare
 * only once all three are stored, so a memory error loses nothing.  keys: the
 * field names' stack index. */
static void deliver(lua_State *L, gc_multi *m, slot *s, int keys, int out, int refs, int base)
{
    lua_rawgeti(L, refs, 2 * s->id - 1);
    lua_rawseti(L, out, base + 1);
    if (s->result == CURLE_OK) {
        gc_push_response(L, keys, s->easy, &s->x, m->conn.head);
        lua_rawseti(L, out, base + 2);
        lua_pushnil(L);
    } else {
        lua_pushnil(L);
        lua_rawseti(L, out, base + 2);
        gc_push_failure(L, s->easy, &s->x, s->result);
    }
    lua_rawseti(L, out, base + 3);
    lua_pushnil(L);
    lua_rawseti(L, refs, 2 * s->id - 1);
    lua_pushnil(L);
    lua_rawseti(L, refs, 2 * s->id);
    gc_xfer_trim(&s->x);
    s->state = SLOT_FREE;
    m->spare[m->nspare++] = s->id;
}

/* Every finished slot handed to Lua (deliver), under lua_pcall from poll (arguments:
 * the multi as a light userdata, the field names, out, the refs table) -> n: a memory
 * error, or a finalizer's error where those propagate (5.1, 5.3, LuaJIT), leaves poll
 * through its own code, which clears the "delivering" mark instead of leaving the
 * multi refusing every call. */
static int deliver_all(lua_State *L)
{
    gc_multi *m = lua_touserdata(L, 1);
    int n = 0;
    while (m->ndone > 0) {
        deliver(L, m, m->slots[m->done[0] - 1], 2, 3, 4, 3 * n);
        memmove(m->done, m->done + 1, (size_t)(--m->ndone) * sizeof *m->done);
        n++;
    }
    lua_pushinteger(L, n);
    return 1;
}

/* m:poll(timeout [, out [, want [, linger]]]) -> n, out */
static int l_poll(lua_State *L)
{
    gc_multi *m = check_multi(L);
    lua_Number timeout = luaL_optnumber(L, 2, 0);
    lua_Number want_n = luaL_optnumber(L, 4, 1);
    lua_Number linger = luaL_optnumber(L, 5, 0);
    int want = want_n >= 1 && want_n <= 1e9 ? (int)want_n : 1;
    CURLMcode mc;
    int status;
    luaL_argcheck(L, timeout >= 0, 2, "timeout must be a number of seconds >= 0");
    luaL_argcheck(L, linger >= 0, 5, "linger must be a number of seconds >= 0");
    lua_settop(L, 3);
    if (lua_isnil(L, 3)) {
        lua_newtable(L);
        lua_replace(L, 3);
    }
    luaL_checktype(L, 3, LUA_TTABLE);
    get_refs(L, 1);
    if (m->ndone == 0 && m->inflight > 0) {
        if ((mc = drive(m, timeout, want, linger)) != CURLM_OK)
            return luaL_error(L, "graphcomm: curl_multi: %s", curl_multi_strerror(mc));
    }
    if (m->ev.err != 0) {      /* said once: what finished still comes on the next poll */
        int err = m->ev.err;
        m->ev.err = 0;
        return luaL_error(L, "graphcomm: waiting for sockets: %s", strerror(err));
    }
    /* The values pushed before the call allocate nothing. */
    m->delivering = 1;
    lua_pushvalue(L, DELIVER_ALL);
    lua_pushlightuserdata(L, m);
    lua_pushvalue(L, KEYS);
    lua_pushvalue(L, 3);
    lua_pushvalue(L, 4);
    status = lua_pcall(L, 4, 1, 0);
    m->delivering = 0;
    if (m->close_pending)
        multi_free(L, m);
    if (status != 0)
        return lua_error(L);
    lua_pushvalue(L, 3);
    return 2;
}

/* ---------------------------------------------------------------- queries */

static int l_pending(lua_State *L)
{
    gc_multi *m = check_multi(L);
    lua_pushinteger(L, m->inflight + m->ndone);
    return 1;
}

static int l_stats(lua_State *L)
{
    gc_multi *m = check_multi(L);
    lua_createtable(L, 0, 3);
    lua_pushinteger(L, m->requests);
    lua_setfield(L, -2, "requests");
    lua_pushinteger(L, m->connections);
    lua_setfield(L, -2, "connections");
    lua_pushinteger(L, m->nslots);
    lua_setfield(L, -2, "handles");
    return 1;
}

/* add and poll, with their upvalue: gc_open_multi. */
static const luaL_Reg multi_methods[] = {
    { "pending", l_pending },
    { "stats", l_stats },
    { "close", l_close },
    { NULL, NULL }
};

static const luaL_Reg multi_meta[] = {
    { "__gc", l_gc },
    { "__close", l_close },
    { "__tostring", l_tostring },
    { NULL, NULL }
};

void gc_open_multi(lua_State *L)
{
    gc_new_class(L, MULTI_MT, multi_meta, multi_methods);
    luaL_getmetatable(L, MULTI_MT);
    lua_getfield(L, -1, "__index");
    gc_push_keys(L);
    lua_pushvalue(L, -1);
    lua_pushcclosure(L, l_add, 1);
    lua_setfield(L, -3, "add");
    lua_pushcfunction(L, deliver_all);
    lua_pushcclosure(L, l_poll, 2);
    lua_setfield(L, -2, "poll");
    lua_pop(L, 2);
    lua_pushcfunction(L, l_multi);
    lua_setfield(L, -2, "multi");
}
