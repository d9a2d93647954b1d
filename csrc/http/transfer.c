/* transfer.c: what both transports (http.c, the easy interface; multi.c, the
 * multi interface) do before and during a transfer: the easy-handle set-up, the
 * request applied to a handle and the response collector; the finished
 * transfer as Lua values is response.c. Shapes in transfer.h. */
#include <stdlib.h>
#include <string.h>
#include "http/transfer.h"

/* CURLOPT_CURLU and the URL API: libcurl 7.63 and later. */
#define GC_HAVE_CURLU (LIBCURL_VERSION_NUM >= 0x073f00)

#define MAX_HEAD_BYTES (1024u * 1024u)
#define KEEP_BUF_BYTES (256u * 1024u)

/* ---------------------------------------------------------------- field names */

void gc_push_keys(lua_State *L)
{
    static const char *const names[GC_K_LAST] = {
        "status", "head", "headers", "body", "http_version", "request_id",
        "client_request_id", "new_connections", "url", "method", "timeout",
        "connect_timeout",
        "date", "vary", "server", "location", "connection", "request-id", "retry-after",
        "content-type", "cache-control", "odata-version", "content-length",
        "content-encoding", "client-request-id", "transfer-encoding", "x-ms-ags-diagnostic",
        "strict-transport-security", ""
    };
    int k;
    lua_createtable(L, GC_K_LAST, 0);
    for (k = 1; k <= GC_K_LAST; k++) {
        lua_pushstring(L, names[k - 1]);
        lua_rawseti(L, -2, k);
    }
}

/* ---------------------------------------------------------------- buffers */

static int buf_append(gc_bytes *b, const char *p, size_t n)
{
    if (b->len + n > b->cap) {
        size_t cap = b->cap ? b->cap : 1024;
        char *nd;
        while (cap < b->len + n)
            cap *= 2;
        nd = realloc(b->data, cap);
        if (nd == NULL)
            return -1;
        b->data = nd;
        b->cap = cap;
    }
    memcpy(b->data + b->len, p, n);
    b->len += n;
    return 0;
}

/* Large buffers are given back after use; small ones are kept for the next request. */
static void buf_trim(gc_bytes *b)
{
    b->len = 0;
    if (b->cap > KEEP_BUF_BYTES) {
        free(b->data);
        b->data = NULL;
        b->cap = 0;
    }
}

static void buf_free(gc_bytes *b)
{
    free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
}

/* ---------------------------------------------------------------- libcurl callbacks */

/* Refusing an oversized body here (returning 0) aborts the transfer early. */
static size_t on_body(char *p, size_t size, size_t n, void *ud)
{
    gc_xfer *x = ud;
    size_t bytes = size * n;
    if (x->body.len + bytes > x->max_body) {
        x->too_big = 1;
        return 0;
    }
    if (buf_append(&x->body, p, bytes) != 0) {
        x->no_memory = 1;
        return 0;
    }
    return bytes;
}

/* Keeps the last header block only: interim 1xx responses start it afresh. */
static size_t on_header(char *p, size_t size, size_t n, void *ud)
{
    gc_xfer *x = ud;
    size_t bytes = size * n;
    if (bytes >= 5 && memcmp(p, "HTTP/", 5) == 0)
        x->head.len = 0;
    if (x->head.len + bytes > MAX_HEAD_BYTES)
        return 0;
    if (buf_append(&x->head, p, bytes) != 0) {
        x->no_memory = 1;
        return 0;
    }
    return bytes;
}

void gc_xfer_attach(CURL *e, gc_xfer *x)
{
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, x);
    curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(e, CURLOPT_HEADERDATA, x);
    curl_easy_setopt(e, CURLOPT_ERRORBUFFER, x->errbuf);
}

void gc_xfer_reset(gc_xfer *x, size_t max_body)
{
    x->body.len = x->head.len = 0;
    x->max_body = max_body;
    x->too_big = x->no_memory = 0;
    x->errbuf[0] = '\0';
}

void gc_xfer_trim(gc_xfer *x)
{
    buf_trim(&x->body);
    buf_trim(&x->head);
}

void gc_xfer_free(gc_xfer *x)
{
    buf_free(&x->body);
    buf_free(&x->head);
    buf_free(&x->origin);
    buf_free(&x->target);
#if GC_HAVE_CURLU
    if (x->url != NULL)
        curl_url_cleanup(x->url);
#endif
    x->url = NULL;
}

/* ---------------------------------------------------------------- handle set-up */

static long http_version_code(lua_State *L, const char *v)
{
    if (v == NULL || strcmp(v, "2tls") == 0 || strcmp(v, "auto") == 0)
        return CURL_HTTP_VERSION_2TLS;
    if (strcmp(v, "1.1") == 0)
        return CURL_HTTP_VERSION_1_1;
    if (strcmp(v, "1.0") == 0)
        return CURL_HTTP_VERSION_1_0;
    if (strcmp(v, "2") == 0)
        return CURL_HTTP_VERSION_2_0;
    if (strcmp(v, "2-prior-knowledge") == 0)
        return CURL_HTTP_VERSION_2_PRIOR_KNOWLEDGE;
    return luaL_error(L, "graphcomm: http_version must be one of \"1.0\", \"1.1\", \"2\", "
                      "\"2tls\", \"2-prior-knowledge\" (got \"%s\")", v);
}

static const char *opt_string(lua_State *L, int idx, const char *name)
{
    const char *s;
    lua_getfield(L, idx, name);
    s = luaL_optstring(L, -1, NULL);
    lua_pop(L, 1);
    return s;                   /* still referenced by the options table */
}

/* The seconds on top of the stack (popped), the option name, as milliseconds; dflt
 * when nil or negative. */
static long pop_ms(lua_State *L, const char *name, long dflt)
{
    lua_Number s = luaL_optnumber(L, -1, -1);
    lua_pop(L, 1);
    if (s != s)
        luaL_error(L, "graphcomm: %s must be a number of seconds (got nan)", name);
    if (s < 0)
        return dflt;
    return s * 1000 > 2147483647.0 ? 2147483647L : (long)(s * 1000);
}

/* Seconds in opts[name] as milliseconds; dflt when absent or negative. */
static long opt_ms(lua_State *L, int idx, const char *name, long dflt)
{
    lua_getfield(L, idx, name);
    return pop_ms(L, name, dflt);
}

static size_t opt_max_body(lua_State *L, int idx)
{
    lua_Number cap;
    lua_getfield(L, idx, "max_body");
    cap = luaL_optnumber(L, -1, GC_DEFAULT_MAX_BODY);
    lua_pop(L, 1);
    return cap > 0 && cap < (lua_Number)((size_t)-1 / 4) ? (size_t)cap : GC_DEFAULT_MAX_BODY;
}

/* The names gc_easy_setup reads. */
static const char *const easy_names[] = {
    "ca_file", "proxy", "http_version", "timeout", "connect_timeout", "max_body", "head", NULL
};

static int listed(const char *const *names, const char *name)
{
    for (; names != NULL && *names != NULL; names++)
        if (strcmp(*names, name) == 0)
            return 1;
    return 0;
}

void gc_check_option_names(lua_State *L, int opts, const char *fname, const char *const *extra)
{
    lua_pushnil(L);
    while (lua_next(L, opts) != 0) {
        lua_pop(L, 1);                          /* the value; the key stays for lua_next */
        if (lua_type(L, -1) != LUA_TSTRING)
            luaL_error(L, "graphcomm: %s: an option name must be a string, got %s", fname,
                       luaL_typename(L, -1));
        if (!listed(easy_names, lua_tostring(L, -1)) && !listed(extra, lua_tostring(L, -1)))
            luaL_error(L, "graphcomm: %s: unknown option '%s'", fname, lua_tostring(L, -1));
    }
}

/* The option head: true (or absent) keeps resp.head; false leaves it out. */
static int opt_head(lua_State *L, int idx)
{
    int keep;
    lua_getfield(L, idx, "head");
    if (!lua_isnil(L, -1) && !lua_isboolean(L, -1))
        luaL_error(L, "graphcomm: head must be a boolean, got %s", luaL_typename(L, -1));
    keep = lua_isnil(L, -1) || lua_toboolean(L, -1);
    lua_pop(L, 1);
    return keep;
}

/* True when the environment names a proxy libcurl would use for http or https
 * (its own list: http_proxy in lower case only, https_proxy, HTTPS_PROXY, all_proxy,
 * ALL_PROXY).  Without one, libcurl would still scan the environment on every
 * request, a few thousand instructions each time; see gc_easy_setup. */
static int env_names_proxy(void)
{
    static const char *const names[] = {
        "http_proxy", "https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY", NULL
    };
    int i;
    for (i = 0; names[i] != NULL; i++) {
        const char *v = getenv(names[i]);
        if (v != NULL && v[0] != '\0')
            return 1;
    }
    return 0;
}

/* Options that hold for every request of the handle; libcurl copies the strings.
 * With neither the proxy option nor a proxy in the environment, the proxy is set to
 * "" (none): the same outcome as libcurl's own look-up, decided once per handle
 * instead of once per request (a variable set later in the process is not seen).
 * A proxy from the option or the environment keeps libcurl's handling, no_proxy too. */
int gc_easy_setup(lua_State *L, CURL *e, int opts, gc_conn *c)
{
    const char *ca = opt_string(L, opts, "ca_file");
    const char *proxy = opt_string(L, opts, "proxy");
    long version = http_version_code(L, opt_string(L, opts, "http_version"));
    CURLcode rc = CURLE_OK;
    c->max_body = opt_max_body(L, opts);
    c->timeout_ms = opt_ms(L, opts, "timeout", 100000);
    c->connect_timeout_ms = opt_ms(L, opts, "connect_timeout", 10000);
    c->head = opt_head(L, opts);
#define SET(o, v) if (rc == CURLE_OK) rc = curl_easy_setopt(e, o, v)
    SET(CURLOPT_NOSIGNAL, 1L);
    SET(CURLOPT_FOLLOWLOCATION, 0L);           /* the Lua policy follows redirects */
    SET(CURLOPT_SSL_VERIFYPEER, 1L);           /* never switched off */
    SET(CURLOPT_SSL_VERIFYHOST, 2L);
    SET(CURLOPT_HTTP_VERSION, version);
    /* libcurl before 8.0 fails a request sent on a reused h2c (prior knowledge)
     * connection, kept alive or multiplexed: there, every request of that mode
     * gets a connection of its own, closed after it. */
    if (version == CURL_HTTP_VERSION_2_PRIOR_KNOWLEDGE
        && curl_version_info(CURLVERSION_NOW)->version_num < 0x080000) {
        SET(CURLOPT_FORBID_REUSE, 1L);
        SET(CURLOPT_FRESH_CONNECT, 1L);
    }
    SET(CURLOPT_TCP_KEEPALIVE, 1L);
    SET(CURLOPT_TCP_NODELAY, 1L);
    SET(CURLOPT_ACCEPT_ENCODING, "");
    /* The URL goes out as the request builder made it: an id such as ".." is a
     * segment, not a step up (and libcurl skips its dot-segment pass, ~3,000
     * instructions a request). */
    SET(CURLOPT_PATH_AS_IS, 1L);
#if LIBCURL_VERSION_NUM >= 0x075500
    SET(CURLOPT_PROTOCOLS_STR, "http,https");
#else
    SET(CURLOPT_PROTOCOLS, (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS));
#endif
    if (ca != NULL)
        SET(CURLOPT_CAINFO, ca);
    if (proxy != NULL) {
        SET(CURLOPT_PROXY, proxy);
    } else if (!env_names_proxy()) {
        SET(CURLOPT_PROXY, "");
        SET(CURLOPT_NOPROXY, "");   /* nothing to bypass: spares the no_proxy look-ups */
    }
#undef SET
    return rc == CURLE_OK ? 0 : -1;
}

/* ---------------------------------------------------------------- one request */

/* Whether the Lua string s[0..n) holds CR, LF or NUL.  A NUL is refused, not cut at:
 * libcurl would read the string only up to it, and send another request.  Every header
 * of every request passes here, so the scan is the cheaper of two (callgrind, glibc
 * 2.36): strcspn stops at the first CR or LF, or at a NUL, and a Lua string always has
 * one at s[n], so one call does it (72 instructions for 40 bytes, three memchr 126); for
 * a long line such as a real Graph token, one to two kilobytes, three memchr are
 * cheaper (634 for 1,500 bytes, strcspn 1,073). */
static int bad_bytes(const char *s, size_t n)
{
    if (n < 256)
        return strcspn(s, "\r\n") != n;
    return memchr(s, '\r', n) != NULL || memchr(s, '\n', n) != NULL || memchr(s, '\0', n) != NULL;
}

/* Checks every header line before anything is allocated, so no error is raised later;
 * the first ones are kept in r (the table on the stack keeps them alive). */
static int check_headers(lua_State *L, int tidx, gc_req *r)
{
    int i, n;
    if (lua_isnil(L, tidx))
        return 0;
    luaL_argcheck(L, lua_istable(L, tidx), 1, "req.headers must be a list of strings");
    n = (int)gc_rawlen(L, tidx);
    for (i = 1; i <= n; i++) {
        size_t len;
        const char *s;
        lua_rawgeti(L, tidx, i);
        if (lua_type(L, -1) != LUA_TSTRING)
            luaL_error(L, "graphcomm: req.headers[%d] is not a string", i);
        s = lua_tolstring(L, -1, &len);
        if (bad_bytes(s, len))
            luaL_error(L, "graphcomm: req.headers[%d] holds CR, LF or NUL", i);
        if (i <= GC_REQ_LINES) {
            r->line[i - 1] = s;
            r->line_len[i - 1] = len;
        }
        lua_pop(L, 1);
    }
    return n;
}

const char *gc_req_line(lua_State *L, const gc_req *r, int i, size_t *len)
{
    const char *s;
    if (i <= GC_REQ_LINES) {
        *len = r->line_len[i - 1];
        return r->line[i - 1];
    }
    lua_rawgeti(L, r->headers, i);
    s = lua_tolstring(L, -1, len);
    lua_pop(L, 1);
    return s;                   /* still referenced by the headers table */
}

/* req[key k] on top of the stack: lua_gettable, so a metatable is honoured as
 * lua_getfield would, but with a kept key. */
static void get_req(lua_State *L, int req, int keys, int k)
{
    gc_push_key(L, keys, k);
    lua_gettable(L, req);
}

void gc_req_read(lua_State *L, int req, int keys, const gc_conn *c, gc_req *r)
{
    int base = lua_gettop(L);
    luaL_checktype(L, req, LUA_TTABLE);
    get_req(L, req, keys, GC_K_URL);           /* base + 1 */
    r->url = luaL_checklstring(L, base + 1, &r->ulen);
    get_req(L, req, keys, GC_K_METHOD);        /* base + 2 */
    r->method = luaL_optlstring(L, base + 2, "GET", &r->mlen);
    get_req(L, req, keys, GC_K_BODY);          /* base + 3: pinned while libcurl reads it */
    r->blen = 0;
    r->body = luaL_optlstring(L, base + 3, NULL, &r->blen);
    get_req(L, req, keys, GC_K_TIMEOUT);
    r->timeout_ms = pop_ms(L, "timeout", c->timeout_ms);
    get_req(L, req, keys, GC_K_CONNECT_TIMEOUT);
    r->connect_timeout_ms = pop_ms(L, "connect_timeout", c->connect_timeout_ms);
    if (bad_bytes(r->method, r->mlen) || bad_bytes(r->url, r->ulen))
        luaL_error(L, "graphcomm: CR, LF or NUL in the method or URL");
    /* The headers last: r keeps pointers to the strings of the list, and a metamethod
     * of req (get_req honours __index) could change the list under them; after this
     * no Lua code runs before the lines are copied or sent. */
    get_req(L, req, keys, GC_K_HEADERS);       /* base + 4 */
    r->headers = base + 4;
    r->nheaders = check_headers(L, base + 4, r);
}

/* The lines are copied one after the other, each with its NUL, into h->text (which
 * may move while it grows), then the nodes are pointed at them: no allocation once the
 * storage has grown to the size of a request's headers, where curl_slist_append made
 * two a line (and curl_slist_free_all freed them).  No line holds a NUL (gc_req_read
 * checked), so each ends at the first one. */
struct curl_slist *gc_req_headers(lua_State *L, const gc_req *r, gc_headers *h)
{
    static const char expect[] = "Expect:";
    int i, n = r->nheaders + 1;
    char *p;
    if (n > h->nnodes) {
        struct curl_slist *grown = realloc(h->nodes, (size_t)n * sizeof *grown);
        if (grown == NULL)
            return NULL;
        h->nodes = grown;
        h->nnodes = n;
    }
    h->text.len = 0;
    if (buf_append(&h->text, expect, sizeof expect) != 0)
        return NULL;
    for (i = 1; i < n; i++) {
        size_t len;
        const char *line = gc_req_line(L, r, i, &len);
        if (buf_append(&h->text, line, len + 1) != 0)
            return NULL;
    }
    for (i = 0, p = h->text.data; i < n; i++, p += strlen(p) + 1) {
        h->nodes[i].data = p;
        h->nodes[i].next = i + 1 < n ? &h->nodes[i + 1] : NULL;
    }
    return h->nodes;
}

void gc_headers_free(gc_headers *h)
{
    free(h->nodes);
    h->nodes = NULL;
    h->nnodes = 0;
    buf_free(&h->text);
}

/* ---------------------------------------------------------------- applying a request
 *
 * gc_req_apply sets only what differs from what it set for the previous request on
 * the handle (x->set): libcurl keeps every option until it is set again, and
 * curl_easy_perform changes none of them (redirects are not followed), so skipping
 * an option that holds the value already leaves the handle exactly as setting it
 * would.  The body pointer, the header list and the CURLU are set every time. */

enum { KIND_HEAD = 1, KIND_BODY, KIND_PLAIN };

/* Method and body; the caller keeps the body string alive for the transfer.  The
 * full sequence runs when the method or its kind changed; for the same method again
 * the options it set still hold, only the body (and a new size) is set. */
static void set_method(CURL *e, gc_applied *a, const char *method, size_t mlen,
                       const char *body, size_t blen)
{
    int head = strcmp(method, "HEAD") == 0, post = strcmp(method, "POST") == 0;
    int kind = head ? KIND_HEAD
        : body != NULL || post || strcmp(method, "PATCH") == 0 || strcmp(method, "PUT") == 0
        ? KIND_BODY : KIND_PLAIN;
    curl_off_t size = (curl_off_t)(body != NULL ? blen : 0);
    int ok = 1;
    if (kind == a->method_kind && mlen < sizeof a->method
        && memcmp(method, a->method, mlen + 1) == 0) {
        if (kind == KIND_BODY) {
            curl_easy_setopt(e, CURLOPT_POSTFIELDS, body != NULL ? body : "");
            if (size != a->postsize)
                curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, size);
            a->postsize = size;
        }
        return;
    }
#define SET(o, v) ok &= curl_easy_setopt(e, o, v) == CURLE_OK
    SET(CURLOPT_NOBODY, head ? 1L : 0L);
    if (kind == KIND_HEAD) {
        SET(CURLOPT_CUSTOMREQUEST, NULL);
    } else if (kind == KIND_BODY) {
        SET(CURLOPT_POSTFIELDS, body != NULL ? body : "");
        SET(CURLOPT_POSTFIELDSIZE_LARGE, size);
        SET(CURLOPT_CUSTOMREQUEST, post ? NULL : method);
    } else {
        SET(CURLOPT_HTTPGET, 1L);
        SET(CURLOPT_CUSTOMREQUEST, strcmp(method, "GET") == 0 ? NULL : method);
    }
#undef SET
    /* Remembered only when every option took (a failed one leaves libcurl's state
     * unknown) and the method fits. */
    a->method_kind = ok && mlen < sizeof a->method ? kind : 0;
    if (a->method_kind != 0) {
        memcpy(a->method, method, mlen + 1);
        a->postsize = size;
    }
}

#if GC_HAVE_CURLU
/* The bytes that libcurl's URL parser keeps as they are in a path or query (RFC 3986
 * unreserved, sub-delims, ':', '@', '/'; '?' is 2): a table, since every byte of every
 * target is looked up.  Not '%': libcurl 7.88 writes the hex of a percent-encoding set
 * as a part in lower case, the full parse keeps it as is. */
static const unsigned char plain_bytes[256] = {
    ['a'] = 1, ['b'] = 1, ['c'] = 1, ['d'] = 1, ['e'] = 1, ['f'] = 1, ['g'] = 1, ['h'] = 1,
    ['i'] = 1, ['j'] = 1, ['k'] = 1, ['l'] = 1, ['m'] = 1, ['n'] = 1, ['o'] = 1, ['p'] = 1,
    ['q'] = 1, ['r'] = 1, ['s'] = 1, ['t'] = 1, ['u'] = 1, ['v'] = 1, ['w'] = 1, ['x'] = 1,
    ['y'] = 1, ['z'] = 1, ['A'] = 1, ['B'] = 1, ['C'] = 1, ['D'] = 1, ['E'] = 1, ['F'] = 1,
    ['G'] = 1, ['H'] = 1, ['I'] = 1, ['J'] = 1, ['K'] = 1, ['L'] = 1, ['M'] = 1, ['N'] = 1,
    ['O'] = 1, ['P'] = 1, ['Q'] = 1, ['R'] = 1, ['S'] = 1, ['T'] = 1, ['U'] = 1, ['V'] = 1,
    ['W'] = 1, ['X'] = 1, ['Y'] = 1, ['Z'] = 1, ['0'] = 1, ['1'] = 1, ['2'] = 1, ['3'] = 1,
    ['4'] = 1, ['5'] = 1, ['6'] = 1, ['7'] = 1, ['8'] = 1, ['9'] = 1, ['-'] = 1, ['.'] = 1,
    ['_'] = 1, ['~'] = 1, ['!'] = 1, ['$'] = 1, ['&'] = 1, ['\''] = 1, ['('] = 1, [')'] = 1,
    ['*'] = 1, ['+'] = 1, [','] = 1, [';'] = 1, ['='] = 1, [':'] = 1, ['@'] = 1, ['/'] = 1,
    ['?'] = 2,
};

/* Whether the target t (NUL-terminated) holds plain bytes only: only such targets
 * take the fast path below, so it sends what a full parse would.  *plen: the length
 * of its path (up to the first '?'); *q: that '?', or NULL. */
static int plain_target(const char *t, size_t *plen, const char **q)
{
    const char *p;
    *q = NULL;
    for (p = t;; p++) {
        unsigned char k = plain_bytes[(unsigned char)*p];
        if (k == 1)
            continue;
        if (*p == '\0')
            break;
        if (k == 0)
            return 0;
        if (*q == NULL)
            *q = p;
    }
    *plen = (size_t)((*q != NULL ? *q : p) - t);
    return 1;
}

/* Sets only the path and query on the kept CURLU when url has the origin it holds
 * and a plain target (libcurl then skips parsing the whole URL, about a fifth of
 * its work per request); a path or an absent query the CURLU holds already is not
 * set again.  0 when done, -1 when the URL must be parsed in full. */
static int set_target(gc_xfer *x, const char *url)
{
    gc_applied *a = &x->set;
    const char *t = url + x->origin.len, *q;
    size_t plen;
    if (x->origin.len == 0 || strncmp(url, x->origin.data, x->origin.len) != 0 || *t != '/'
        || !plain_target(t, &plen, &q))
        return -1;
    if (q != NULL && q[1] == '\0')
        return -1;               /* an empty query: leave the spelling to libcurl */
    if (!a->path_ok || x->target.len != plen + 1 || memcmp(x->target.data, t, plen) != 0) {
        a->path_ok = 0;
        x->target.len = 0;
        if (buf_append(&x->target, t, plen) != 0 || buf_append(&x->target, "", 1) != 0
            || curl_url_set(x->url, CURLUPART_PATH, x->target.data, 0) != CURLUE_OK)
            return -1;
        a->path_ok = 1;
    }
    if (q != NULL || !a->no_query) {
        a->no_query = 0;
        if (curl_url_set(x->url, CURLUPART_QUERY, q != NULL ? q + 1 : NULL, 0) != CURLUE_OK)
            return -1;
        a->no_query = q == NULL;
    }
    return 0;
}

/* Parses url in full into the kept CURLU, with the flags libcurl uses for CURLOPT_URL,
 * and remembers its origin; -1 (origin forgotten) when it does not parse. */
static int set_whole(gc_xfer *x, const char *url)
{
    const char *sep = strstr(url, "://"), *slash;
    x->origin.len = 0;
    x->set.path_ok = x->set.no_query = 0;   /* whatever the parse leaves */
    if (x->url == NULL && (x->url = curl_url()) == NULL)
        return -1;
    if (curl_url_set(x->url, CURLUPART_URL, url,
                     CURLU_GUESS_SCHEME | CURLU_NON_SUPPORT_SCHEME | CURLU_PATH_AS_IS) != CURLUE_OK)
        return -1;
    slash = sep != NULL ? strchr(sep + 3, '/') : NULL;
    if (slash != NULL && buf_append(&x->origin, url, (size_t)(slash - url)) != 0)
        x->origin.len = 0;
    return 0;
}
#endif

/* The URL: through the handle's kept CURLU when it parses, else as CURLOPT_URL, so
 * that libcurl reports a bad URL exactly as before (CURLE_URL_MALFORMAT and its text). */
static void set_url(CURL *e, gc_xfer *x, const char *url)
{
#if GC_HAVE_CURLU
    /* Set on every request even when it is the same CURLU: setting it is what
     * makes libcurl read the URL from it again. */
    if (set_target(x, url) == 0 || set_whole(x, url) == 0) {
        curl_easy_setopt(e, CURLOPT_CURLU, x->url);
        return;
    }
    curl_easy_setopt(e, CURLOPT_CURLU, NULL);
#else
    (void)x;
#endif
    curl_easy_setopt(e, CURLOPT_URL, url);
}

/* Compressed answers are asked for only where a body comes back (reads): libcurl
 * rebuilds its list of encodings for every request that asks, which costs an update
 * (204, no body) about a tenth of its time on a local server.  Both transports, so
 * bulk PATCHes no longer send an Accept-Encoding their 204s never use. */
static void accept_encoding(CURL *e, gc_applied *a, const char *method)
{
    int reads = strcmp(method, "GET") == 0 || strcmp(method, "POST") == 0;
    int which = reads ? 1 : 2;
    if (a->encoding != which)
        a->encoding = curl_easy_setopt(e, CURLOPT_ACCEPT_ENCODING, reads ? "" : NULL) == CURLE_OK
            ? which : 0;
}

static void set_timeouts(CURL *e, gc_applied *a, long timeout_ms, long connect_timeout_ms)
{
    int ok;
    if (a->timeouts && a->timeout_ms == timeout_ms && a->connect_timeout_ms == connect_timeout_ms)
        return;
    ok = curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, timeout_ms) == CURLE_OK;
    ok &= curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, connect_timeout_ms) == CURLE_OK;
    a->timeouts = ok;
    a->timeout_ms = timeout_ms;
    a->connect_timeout_ms = connect_timeout_ms;
}

void gc_req_apply(CURL *e, gc_xfer *x, const gc_req *r, struct curl_slist *headers)
{
    set_timeouts(e, &x->set, r->timeout_ms, r->connect_timeout_ms);
    set_url(e, x, r->url);
    set_method(e, &x->set, r->method, r->mlen, r->body, r->blen);
    accept_encoding(e, &x->set, r->method);
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, headers);
}
