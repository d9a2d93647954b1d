/* transfer.h: what the two libcurl transports share, so that one request
 * behaves the same whether it goes alone (http.c, the easy interface) or in
 * bulk (multi.c, the multi interface): the easy-handle set-up from the Lua
 * options, the request (method, URL, headers, body, timeouts) applied to a
 * handle, the response collector with its cap, and the Lua shapes of a
 * response and of a transport error.
 *
 * Lua options (gc_easy_setup): ca_file, proxy, http_version ("1.0", "1.1",
 * "2", "2tls" = "auto" = default, "2-prior-knowledge"), timeout (100 s) and
 * connect_timeout (10 s) in seconds, max_body in bytes (16 MiB), head (default true:
 * false leaves resp.head out, for a caller that never reads it).
 * A request: { method, url, headers = { "Name: value", ... }, body, timeout, connect_timeout }.
 * A response (a plain table): { status, headers = { [lower-case name] = value }, body,
 * http_version, head, request_id, client_request_id }: head is the header block as
 * received (status line first); headers, request_id and client_request_id are built
 * from it at once, in one pass (the ids nil when absent; a repeated name joined by
 * ", " as in headers).
 * A transport error (metatable graphcomm.error): { kind = "transport", code, message,
 * curl_code, retryable }. */
#ifndef GRAPHCOMM_TRANSFER_H
#define GRAPHCOMM_TRANSFER_H

#include <stddef.h>
#include <curl/curl.h>
#include "lua/compat.h"

#define GC_DEFAULT_MAX_BODY (16u * 1024u * 1024u)

/* Field names as Lua strings, made once (gc_push_keys) and held as an upvalue by the
 * transports' methods: t[key] with a kept key skips the hashing of a C string that
 * lua_getfield and lua_setfield do on every call.  keys: an absolute or upvalue index. */
enum gc_key {
    GC_K_STATUS = 1, GC_K_HEAD, GC_K_HEADERS, GC_K_BODY, GC_K_HTTP_VERSION,
    GC_K_REQUEST_ID, GC_K_CLIENT_REQUEST_ID, GC_K_NEW_CONNECTIONS,
    GC_K_URL, GC_K_METHOD, GC_K_TIMEOUT, GC_K_CONNECT_TIMEOUT,
    /* response header names Graph sends (lower-case), pushed without making a string */
    GC_K_H_DATE, GC_K_H_VARY, GC_K_H_SERVER, GC_K_H_LOCATION, GC_K_H_CONNECTION,
    GC_K_H_REQUEST_ID, GC_K_H_RETRY_AFTER, GC_K_H_CONTENT_TYPE, GC_K_H_CACHE_CONTROL,
    GC_K_H_ODATA_VERSION, GC_K_H_CONTENT_LENGTH, GC_K_H_CONTENT_ENCODING,
    GC_K_H_CLIENT_REQUEST_ID, GC_K_H_TRANSFER_ENCODING, GC_K_H_DIAGNOSTIC,
    GC_K_H_STRICT_TRANSPORT_SECURITY,
    GC_K_EMPTY,                                       /* "": a 204's body */
    GC_K_LAST = GC_K_EMPTY
};
void gc_push_keys(lua_State *L);                    /* a new list: keys[k] = the name */
#define gc_push_key(L, keys, k) lua_rawgeti(L, (keys), (k))

/* A growable byte buffer owned by C (inside a userdata: no Lua error strands it). */
typedef struct gc_bytes {
    char *data;
    size_t len, cap;
} gc_bytes;

/* What a handle keeps between requests: numbers only (libcurl copies strings). */
typedef struct gc_conn {
    long timeout_ms, connect_timeout_ms;
    size_t max_body;
    int head;                   /* 1: responses carry head (the option head, default true) */
} gc_conn;

/* The request options gc_req_apply last set on a handle, so that a value that did
 * not change is not set again (each curl_easy_setopt costs, a string one copies).
 * All zero (a new handle, or a copy of the template) means nothing is known. */
typedef struct gc_applied {
    int timeouts;               /* 1: the two below are set */
    long timeout_ms, connect_timeout_ms;
    int encoding;               /* CURLOPT_ACCEPT_ENCODING: 1 "", 2 NULL */
    int method_kind;            /* what set_method set for method: 1 HEAD, 2 a body, 3 none */
    char method[16];            /* NUL-terminated */
    curl_off_t postsize;        /* CURLOPT_POSTFIELDSIZE_LARGE, with method_kind 2 */
    int path_ok;                /* 1: target holds the path the kept url has */
    int no_query;               /* 1: the kept url has no query */
} gc_applied;

/* One transfer's response and failure state; attached to a handle once. */
typedef struct gc_xfer {
    gc_bytes body;              /* response body of the current exchange */
    gc_bytes head;              /* header block of the final response */
    size_t max_body;
    int too_big, no_memory;
    char errbuf[CURL_ERROR_SIZE];
    CURLU *url;                 /* the last URL, kept parsed (NULL until needed) */
    gc_bytes origin;            /* "scheme://authority" that url holds; empty when none */
    gc_bytes target;            /* the path last set on url, NUL-terminated */
    gc_applied set;             /* what gc_req_apply last set on the handle */
} gc_xfer;

/* A request's header list kept by a handle of the multi transport, whose transfers
 * outlive the call: nodes pointing into text, a copy of the lines; both are reused by
 * the handle's next request. */
typedef struct gc_headers {
    struct curl_slist *nodes;
    int nnodes;
    gc_bytes text;
} gc_headers;

/* A request read from its Lua table; the strings stay valid while the four
 * values gc_req_read pushed (url, method, body, headers) stay on the stack. */
#define GC_REQ_LINES 16
typedef struct gc_req {
    const char *url, *method, *body;
    size_t ulen, mlen, blen;
    int headers;                /* stack index of the headers list (or nil) */
    int nheaders;
    long timeout_ms, connect_timeout_ms;
    /* the first header lines as gc_req_read checked them (the table keeps them) */
    const char *line[GC_REQ_LINES];
    size_t line_len[GC_REQ_LINES];
} gc_req;

/* Raises for a name in the options table at opts that gc_easy_setup does not read and
 * extra (NULL-terminated, or NULL) does not list: a typo such as "timout" would
 * otherwise leave a default in place without a word.  fname names the caller
 * ("core.http").  Call it before allocating anything. */
void gc_check_option_names(lua_State *L, int opts, const char *fname, const char *const *extra);
/* Handle options from the table at opts; returns 0, or -1 when libcurl refuses one. */
int gc_easy_setup(lua_State *L, CURL *e, int opts, gc_conn *c);

void gc_xfer_attach(CURL *e, gc_xfer *x);
void gc_xfer_reset(gc_xfer *x, size_t max_body);
void gc_xfer_trim(gc_xfer *x);     /* gives back large buffers, keeps small ones */
void gc_xfer_free(gc_xfer *x);

/* Reads and checks the request at req (raises on misuse, allocates nothing). */
void gc_req_read(lua_State *L, int req, int keys, const gc_conn *c, gc_req *r);
/* Header line i (1-based) of a request read by gc_req_read, and its length. */
const char *gc_req_line(lua_State *L, const gc_req *r, int i, size_t *len);
/* The header list ("Expect:" first) built in h, or NULL when memory runs out. */
struct curl_slist *gc_req_headers(lua_State *L, const gc_req *r, gc_headers *h);
void gc_headers_free(gc_headers *h);
/* URL, method, body, headers and timeouts on e (x: the handle's collector, which
 * keeps the parsed URL); nothing here raises. */
void gc_req_apply(CURL *e, gc_xfer *x, const gc_req *r, struct curl_slist *headers);

/* response.c: the response table, or the transport error object, of a finished transfer.
 * gc_push_response lower-cases the header names in x->head (resp.head is a copy as
 * received): the collector is emptied after it anyway. */
void gc_push_response(lua_State *L, int keys, CURL *e, gc_xfer *x, int with_head);
void gc_push_failure(lua_State *L, CURL *e, gc_xfer *x, CURLcode rc);
/* The header block data[0..len) (status line first, lines ending in LF or
 * CRLF) as a table of lower-case names; lower-cases the names in place (what
 * resp.headers is built with; fuzz/fuzz_headers.c checks it).
 * Repeated names are joined by ", "; lines without a name are skipped. */
void gc_push_header_block(lua_State *L, char *data, size_t len);

#endif
