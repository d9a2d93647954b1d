/* curl_loop.c: the libcurl floor for bench/update.lua.  The PATCH that graphcomm
 * sends (same URL, headers and body), from C, over one easy handle set up as
 * csrc/http/transfer.c sets it up, with nothing computed per request: no Lua, no
 * validation, no new request id.  Careful as a C programmer would be: the URL is a
 * CURLU handle parsed once, and each request sets only its path (as a client that
 * updates many sessions of one service would), the header list is built once.
 * What any libcurl-based client can reach here; the gap to wrk is libcurl's own work.
 *   curl_loop URL TOKEN BODY SECONDS [COUNT]
 *     -> prints {"rps": r, "cpu_us": c, "request_bytes": b}
 * (cpu_us: user + system CPU time per request of this process; request_bytes: what the
 * last request sent, head and body, CURLINFO_REQUEST_SIZE).  With COUNT, exactly
 * COUNT requests after the warm-up, whatever SECONDS says (callgrind: bench/PROFILE.md).
 * CURL_LOOP_HEADERS=naive in the environment sends only the naive loop's headers
 * (bench/naive_loop.lua: Authorization, Content-Type, Expect:, in its order) instead of
 * graphcomm's seven, all else the same: the difference is what the contract's headers
 * (Accept, SdkVersion, User-Agent, client-request-id) cost inside libcurl
 * (bench/profile.sh prints both rows).  Unset or empty: graphcomm's headers. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/resource.h>
#include <curl/curl.h>

static size_t discard(char *p, size_t size, size_t n, void *ud)
{
    (void)p;
    (void)ud;
    return size * n;
}

static double seconds_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double cpu_seconds(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec)
        + (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

/* The lines request.lua builds for an update, in its order, "Expect:" first as http.c. */
static struct curl_slist *graphcomm_headers(const char *authz)
{
    static const char *const fixed[] = {
        "Accept: application/json",
        "SdkVersion: graphcomm-lua/bench (hostOS=linux; runtimeEnvironment=C)",
        "User-Agent: graphcomm-lua/bench",
        "Content-Type: application/json",
        "client-request-id: 2b5e0c2c-6a8e-4d8e-9a3c-1f1f2f3f4f5f",
        NULL
    };
    struct curl_slist *list = curl_slist_append(NULL, "Expect:");
    int i;
    list = curl_slist_append(list, authz);
    for (i = 0; fixed[i] != NULL; i++)
        list = curl_slist_append(list, fixed[i]);
    return list;
}

/* The lines bench/naive_loop.lua sets, in its order. */
static struct curl_slist *naive_headers(const char *authz)
{
    struct curl_slist *list = curl_slist_append(NULL, authz);
    list = curl_slist_append(list, "Content-Type: application/json");
    return curl_slist_append(list, "Expect:");
}

/* The header list of CURL_LOOP_HEADERS (see the top); NULL for a value it does not know. */
static struct curl_slist *header_list(const char *token)
{
    static char authz[4096];
    const char *which = getenv("CURL_LOOP_HEADERS");
    snprintf(authz, sizeof authz, "Authorization: Bearer %s", token);
    if (which == NULL || which[0] == '\0')
        return graphcomm_headers(authz);
    if (strcmp(which, "naive") == 0)
        return naive_headers(authz);
    fprintf(stderr, "curl_loop: CURL_LOOP_HEADERS=%s: only \"naive\" (or unset)\n", which);
    return NULL;
}

static CURLU *url_handle;
static char *url_path;

static CURL *easy_handle(const char *url, const char *body, struct curl_slist *headers)
{
    CURL *e = curl_easy_init();
    if (e == NULL || (url_handle = curl_url()) == NULL)
        return NULL;
    if (curl_url_set(url_handle, CURLUPART_URL, url, CURLU_PATH_AS_IS) != CURLUE_OK
        || curl_url_get(url_handle, CURLUPART_PATH, &url_path, 0) != CURLUE_OK)
        return NULL;
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_2TLS);
    curl_easy_setopt(e, CURLOPT_TCP_KEEPALIVE, 1L);
    curl_easy_setopt(e, CURLOPT_TCP_NODELAY, 1L);
    curl_easy_setopt(e, CURLOPT_PROXY, "");
    curl_easy_setopt(e, CURLOPT_NOPROXY, "");
    curl_easy_setopt(e, CURLOPT_PATH_AS_IS, 1L);
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, 100000L);
    curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, 10000L);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, discard);
    curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, discard);
    curl_easy_setopt(e, CURLOPT_CURLU, url_handle);
    curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, "PATCH");
    curl_easy_setopt(e, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)strlen(body));
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, headers);
    return e;
}

/* One exchange; 0 when it got the 204 an update answers. */
static int update(CURL *e)
{
    long status = 0;
    CURLcode rc;
    curl_url_set(url_handle, CURLUPART_PATH, url_path, 0);   /* the next session's path */
    rc = curl_easy_perform(e);
    if (rc != CURLE_OK) {
        fprintf(stderr, "curl_loop: %s\n", curl_easy_strerror(rc));
        return -1;
    }
    curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &status);
    if (status != 204) {
        fprintf(stderr, "curl_loop: status %ld\n", status);
        return -1;
    }
    return 0;
}

int main(int argc, char **argv)
{
    struct curl_slist *headers;
    CURL *e;
    double t0, c0, stop, secs;
    long request_bytes = 0;
    long n = 0, count = argc == 6 ? atol(argv[5]) : 0;
    int i;
    if (argc != 5 && argc != 6) {
        fprintf(stderr, "usage: curl_loop URL TOKEN BODY SECONDS [COUNT]\n");
        return 2;
    }
    curl_global_init(CURL_GLOBAL_DEFAULT);
    headers = header_list(argv[2]);
    if (headers == NULL)
        return 2;
    e = easy_handle(argv[1], argv[3], headers);
    if (e == NULL)
        return 1;
    for (i = 0; i < 200; i++)               /* warm-up, as the other contestants */
        if (update(e) != 0)
            return 1;
    t0 = seconds_now();
    c0 = cpu_seconds();
    stop = t0 + atof(argv[4]);
    if (argc == 6) {
        for (; n < count; n++)
            if (update(e) != 0)
                return 1;
    } else do {
        for (i = 0; i < 100; i++)
            if (update(e) != 0)
                return 1;
        n += 100;
    } while (seconds_now() < stop);
    secs = seconds_now() - t0;
    if (n == 0)
        n = 1;
    curl_easy_getinfo(e, CURLINFO_REQUEST_SIZE, &request_bytes);
    printf("{\"rps\": %.1f, \"cpu_us\": %.1f, \"request_bytes\": %ld}\n", (double)n / secs,
           (cpu_seconds() - c0) * 1e6 / (double)n, request_bytes);
    curl_easy_cleanup(e);
    curl_url_cleanup(url_handle);
    curl_free(url_path);
    curl_slist_free_all(headers);
    curl_global_cleanup();
    return 0;
}
