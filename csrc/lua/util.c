/* util.c: small system services the Lua layer needs and Lua lacks:
 * random UUIDs, a monotonic clock, a sleep with sub-second precision, and the
 * percent-encoding of a URL path segment (every update encodes two ids: a Lua
 * pattern over them cost Lua 5.4 about 12,000 instructions a request). */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include "lua/core.h"

void gc_open_util(lua_State *L);

/* ---------------------------------------------------------------- random */

/* Reads n bytes of kernel randomness; /dev/urandom works on every Linux and
 * never blocks once the system is up. The descriptor is kept open. */
static int read_random(unsigned char *buf, size_t n)
{
    static int fd = -1;
    size_t got = 0;
    if (fd < 0)
        fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    while (got < n) {
        ssize_t r = read(fd, buf + got, n - got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            return -1;
        got += (size_t)r;
    }
    return 0;
}

/* Random bytes for ids, read from the kernel POOL bytes at a time: one system call
 * per 32 ids instead of one per id (every request carries a new client-request-id).
 * A mutex guards the pool (Lua states in several threads share it), and a forked
 * child starts with an empty one, so parent and child never hand out the same bytes. */
#define POOL 512
static unsigned char pool[POOL];
static size_t pool_left;
static pthread_mutex_t pool_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_once_t pool_once = PTHREAD_ONCE_INIT;

/* fork() holds the lock across itself, so that a child never starts with it taken by a
 * thread it does not have; the child then starts with the pool empty. */
static void pool_before_fork(void) { pthread_mutex_lock(&pool_lock); }
static void pool_after_fork(void) { pthread_mutex_unlock(&pool_lock); }

static void pool_forget(void)
{
    pool_left = 0;
    memset(pool, 0, sizeof pool);
    pthread_mutex_unlock(&pool_lock);
}

static void pool_init(void)
{
    pthread_atfork(pool_before_fork, pool_after_fork, pool_forget);
}

static int pool_take(unsigned char *buf, size_t n)
{
    int rc = 0;
    pthread_once(&pool_once, pool_init);
    pthread_mutex_lock(&pool_lock);
    if (pool_left < n) {
        rc = read_random(pool, POOL);
        pool_left = rc == 0 ? POOL : 0;
    }
    if (rc == 0) {
        memcpy(buf, pool + POOL - pool_left, n);
        memset(pool + POOL - pool_left, 0, n);
        pool_left -= n;
    }
    pthread_mutex_unlock(&pool_lock);
    return rc;
}

/* Writes a new random id, "xxxxxxxx-xxxx-4xxx-yxxx-xxxxxxxxxxxx" (RFC 4122
 * version 4), at out[0..36); -1 when the kernel gives no randomness. */
static int put_uuid4(char *out)
{
    static const char hex[] = "0123456789abcdef";
    /* where byte i's two digits go: the dashes sit at 8, 13, 18 and 23 */
    static const unsigned char at[16] = { 0, 2, 4, 6, 9, 11, 14, 16, 19, 21, 24, 26, 28, 30,
                                          32, 34 };
    unsigned char b[16];
    int i;
    if (pool_take(b, sizeof b) != 0)
        return -1;
    b[6] = (unsigned char)((b[6] & 0x0f) | 0x40);   /* version 4 */
    b[8] = (unsigned char)((b[8] & 0x3f) | 0x80);   /* RFC 4122 variant */
    for (i = 0; i < 16; i++) {
        out[at[i]] = hex[b[i] >> 4];
        out[at[i] + 1] = hex[b[i] & 15];
    }
    out[8] = out[13] = out[18] = out[23] = '-';
    return 0;
}

#define UUID_LEN 36
#define ID_LINE_MAX 256

/* core.uuid4([prefix]) -> "xxxxxxxx-xxxx-4xxx-yxxx-xxxxxxxxxxxx" [, prefix .. that id]
 * (a header line and its value in one call).  Both strings are pushed from one
 * buffer: no lua_concat, which cost Lua 5.4 a few hundred instructions a request. */
static int l_uuid4(lua_State *L)
{
    char line[ID_LINE_MAX];
    size_t plen = 0;
    const char *prefix = NULL;
    char *id;
    if (!lua_isnoneornil(L, 1))
        prefix = luaL_checklstring(L, 1, &plen);
    id = plen <= ID_LINE_MAX - UUID_LEN ? line + plen : line;
    if (put_uuid4(id) != 0)
        return luaL_error(L, "graphcomm: cannot read /dev/urandom");
    lua_pushlstring(L, id, UUID_LEN);
    if (prefix == NULL)
        return 1;
    if (id == line) {              /* a long prefix: not the header line, joined by Lua */
        lua_pushvalue(L, 1);
        lua_pushvalue(L, -2);
        lua_concat(L, 2);
        return 2;
    }
    memcpy(line, prefix, plen);
    lua_pushlstring(L, line, plen + UUID_LEN);
    return 2;
}

/* ---------------------------------------------------------------- time */

/* core.now() -> seconds of CLOCK_MONOTONIC: immune to wall-clock steps. */
static int l_now(lua_State *L)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    lua_pushnumber(L, (lua_Number)ts.tv_sec + (lua_Number)ts.tv_nsec / 1e9);
    return 1;
}

/* core.sleep(seconds): nanosleep, resumed after signals until the time is up. */
static int l_sleep(lua_State *L)
{
    lua_Number s = luaL_checknumber(L, 1);
    struct timespec req, rem;
    if (!(s > 0))
        return 0;
    if (s > 1e9)
        s = 1e9;
    req.tv_sec = (time_t)s;
    req.tv_nsec = (long)((s - (lua_Number)req.tv_sec) * 1e9);
    if (req.tv_nsec > 999999999L)
        req.tv_nsec = 999999999L;
    while (nanosleep(&req, &rem) != 0 && errno == EINTR)
        req = rem;
    return 0;
}

/* ---------------------------------------------------------------- URL segments */

/* RFC 3986 unreserved bytes: ALPHA / DIGIT / "-" / "." / "_" / "~" (filled once, for
 * every Lua state of the process, however many threads open the module). */
static unsigned char unreserved[256];
static pthread_once_t unreserved_once = PTHREAD_ONCE_INIT;

static void fill_unreserved(void)
{
    int c;
    for (c = 0; c < 256; c++)
        unreserved[c] = (unsigned char)((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
            || (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_' || c == '~');
}

/* The length of s[0..n) percent-encoded: every byte but the unreserved ones as %XX. */
static size_t encoded_len(const char *s, size_t n)
{
    size_t i, len = n;
    for (i = 0; i < n; i++)
        if (!unreserved[(unsigned char)s[i]])
            len += 2;
    return len;
}

/* Writes s[0..n) percent-encoded (upper-case hex) at out; returns the end. */
static char *put_encoded(char *out, const char *s, size_t n)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t i;
    for (i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (unreserved[c]) {
            *out++ = (char)c;
        } else {
            *out++ = '%';
            *out++ = hex[c >> 4];
            *out++ = hex[c & 15];
        }
    }
    return out;
}

/* Why id argument i may not go into a path, or NULL: the one rule for ids (request.lua
 * only names the id in the error).  Not a string (a number's text is Lua's to give:
 * request.lua passes tostring's), empty, or a dot-segment ("." or "..", which a proxy
 * may normalise away, retargeting the request). */
static const char *refused_id(lua_State *L, int i)
{
    size_t n;
    const char *s;
    int t = lua_type(L, i);
    if (t != LUA_TSTRING)
        return t == LUA_TNUMBER ? "number" : "type";
    s = lua_tolstring(L, i, &n);
    if (n == 0)
        return "empty";
    if (s[0] == '.' && (n == 1 || (n == 2 && s[1] == '.')))
        return "dot";
    return NULL;
}

/* The path of core.path; with refuse set, nil, the position and the reason
 * (refused_id) of the first id that may not go in.  The first PATH_KEEP arguments are
 * read once (an id that needs no encoding, as a GUID, is copied whole); the strings
 * stay on the stack, so their pointers stay valid. */
#define PATH_KEEP 8
static int push_path(lua_State *L, int refuse)
{
    int i, n = lua_gettop(L);
    size_t total = 0, len[PATH_KEEP], elen[PATH_KEEP];
    const char *str[PATH_KEEP];
    char small[512], *buf, *p;
    luaL_argcheck(L, n >= 2 && n % 2 == 0, n, "text and id pairs expected");
    for (i = 1; i <= n; i++) {
        size_t l, e;
        const char *s;
        const char *why = refuse && i % 2 == 0 ? refused_id(L, i) : NULL;
        if (why != NULL) {
            lua_pushnil(L);
            lua_pushinteger(L, i);
            lua_pushstring(L, why);
            return 3;
        }
        s = luaL_checklstring(L, i, &l);
        e = i % 2 ? l : encoded_len(s, l);
        if (i <= PATH_KEEP) {
            str[i - 1] = s;
            len[i - 1] = l;
            elen[i - 1] = e;
        }
        total += e;
    }
    buf = total <= sizeof small ? small : lua_newuserdata(L, total);
    p = buf;
    for (i = 1; i <= n; i++) {
        size_t l, e;
        const char *s;
        if (i <= PATH_KEEP) {
            s = str[i - 1];
            l = len[i - 1];
            e = elen[i - 1];
        } else {
            s = lua_tolstring(L, i, &l);
            e = i % 2 ? l : encoded_len(s, l);
        }
        if (e == l) {
            memcpy(p, s, l);
            p += l;
        } else {
            p = put_encoded(p, s, l);
        }
    }
    lua_pushlstring(L, buf, total);
    return 1;
}

/* core.path(text1, id1 [, text2, id2 ...]) -> text1 .. id1 percent-encoded .. text2 ..
 * (the texts as they are) | nil, position, why ("number", "type", "empty", "dot"): a
 * Graph path in one call, built in one piece of memory (a userdata when it is long:
 * nothing leaks if Lua runs out of memory). */
static int l_path(lua_State *L)
{
    return push_path(L, 1);
}

/* core.encode_id(s) -> s percent-encoded as in core.path; s itself when it needs none. */
static int l_encode_id(lua_State *L)
{
    size_t n, len;
    const char *s = luaL_checklstring(L, 1, &n);
    lua_settop(L, 1);          /* one id: what a gsub's count would add is not a path */
    len = encoded_len(s, n);
    if (len == n)
        return 1;
    lua_pushliteral(L, "");
    lua_insert(L, 1);
    return push_path(L, 0);
}

static const luaL_Reg util_funcs[] = {
    { "uuid4", l_uuid4 },
    { "encode_id", l_encode_id },
    { "path", l_path },
    { "now", l_now },
    { "sleep", l_sleep },
    { NULL, NULL }
};

void gc_open_util(lua_State *L)
{
    pthread_once(&unreserved_once, fill_unreserved);
    gc_setfuncs(L, util_funcs);
}
