/* events.c: the wait of the multi transport (see events.h).
 *
 * The epoll loop keeps, for each socket it opened itself (CURLOPT_OPENSOCKETFUNCTION,
 * closed through CURLOPT_CLOSESOCKETFUNCTION), what epoll watches and what libcurl
 * wants. When a transfer ends, libcurl stops wanting its kept-alive connection
 * (CURL_POLL_REMOVE) and wants it again, for reading, when the next request goes out
 * on it: the loop leaves the socket in epoll meanwhile, so a reused connection costs
 * no epoll_ctl at all; should the idle socket wake epoll (the server closed it), it
 * is taken out then. The socket is taken out of epoll before it is closed (a forked
 * child may still hold it). Sockets libcurl made some other way (a resolver's
 * socket pair) are added and removed as libcurl says.
 *
 * Readiness goes to libcurl as its own poll check would have reported it (error and
 * hang-up count as readable and writable), so a reset connection fails with the same
 * error either way. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <time.h>
#include "http/events.h"

double gc_now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Seconds to a wait in int milliseconds, rounded up (waking before libcurl's
 * timer is due would only mean another wait) and clamped: a huge timeout (a
 * Retry-After of years, math.huge) must not overflow the int. A wait of a day
 * at most per call; the caller's deadline loop goes on. */
static int wait_ms(double secs)
{
    double ms = secs * 1000.0 + 1.0;
    if (!(ms > 0))
        return 0;
    return ms >= 86400000.0 ? 86400000 : (int)ms;
}

#ifdef GC_EVENTS_EPOLL

#include <pthread.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

/* A forked child shares its parent's epoll instances (EPOLL_CLOEXEC acts on exec only),
 * and epoll_ctl there changes the parent's: a child closing an inherited multi would
 * take the parent's kept-alive sockets out of epoll and stall its next request. So
 * every fork is counted (in the child), and an inherited loop never calls epoll_ctl. */
static volatile unsigned fork_count;
static pthread_once_t fork_once = PTHREAD_ONCE_INIT;
static void count_fork(void) { fork_count++; }
static void watch_forks(void) { pthread_atfork(NULL, NULL, count_fork); }

int gc_events_inherited(const gc_events *ev)
{
    return ev->ep >= 0 && ev->forks != fork_count;
}

/* fds[fd]: F_OURS while the socket is open, what epoll watches (CURL_POLL_IN/OUT
 * bits) and, shifted by WANT_SHIFT, what libcurl wants. */
#define F_OURS 0x10
#define WANT_SHIFT 2
#define POLL_BITS (CURL_POLL_IN | CURL_POLL_OUT)
#define WATCHED(f) ((f) & POLL_BITS)
#define WANTED(f) (((f) >> WANT_SHIFT) & POLL_BITS)
/* epoll data of a socket not in fds: its number, this flag, and what libcurl wants. */
#define FOREIGN ((uint64_t)1 << 32)
#define FOREIGN_WANT_SHIFT 33
#define MAX_EVENTS 64

void gc_events_zero(gc_events *ev)
{
    ev->cm = NULL;
    ev->err = 0;
    ev->ep = -1;
    ev->timer_at = -1;
    ev->fds = NULL;
    ev->nfds = 0;
    ev->forks = 0;
}

static int ours(const gc_events *ev, curl_socket_t s)
{
    return s >= 0 && s < ev->nfds && (ev->fds[s] & F_OURS);
}

static uint32_t epoll_bits(int what)
{
    return ((what & CURL_POLL_IN) ? EPOLLIN : 0u) | ((what & CURL_POLL_OUT) ? EPOLLOUT : 0u);
}

static void failed(gc_events *ev)
{
    if (ev->err == 0)
        ev->err = errno ? errno : EIO;
}

/* Makes epoll watch `want` on s (want != 0); `watched` is what it watches now. */
static int watch(gc_events *ev, curl_socket_t s, int watched, int want, uint64_t data)
{
    struct epoll_event e;
    e.events = epoll_bits(want);
    e.data.u64 = data;
    if (gc_events_inherited(ev)) {
        errno = ECHILD;
        return -1;
    }
    if (watched)
        return epoll_ctl(ev->ep, EPOLL_CTL_MOD, s, &e);
    return epoll_ctl(ev->ep, EPOLL_CTL_ADD, s, &e);
}

static void unwatch(gc_events *ev, curl_socket_t s)
{
    struct epoll_event e = { 0, { 0 } };   /* ignored, but kernels before 2.6.9 read it */
    if (!gc_events_inherited(ev))
        (void)epoll_ctl(ev->ep, EPOLL_CTL_DEL, s, &e);
}

/* CURLMOPT_SOCKETFUNCTION */
static int on_socket(CURL *easy, curl_socket_t s, int what, void *userp, void *socketp)
{
    gc_events *ev = userp;
    int want = what == CURL_POLL_REMOVE ? 0 : what & POLL_BITS;
    (void)easy;
    (void)socketp;
    if (ours(ev, s)) {
        unsigned char *f = &ev->fds[s];
        int watched = WATCHED(*f);
        *f = (unsigned char)(F_OURS | watched | (want << WANT_SHIFT));
        /* Not wanted: left in epoll until it wakes (or closes); see the top. */
        if (want != 0 && want != watched) {
            /* epoll's record and ours disagree (the socket left epoll some other way):
             * the other call then */
            if (watch(ev, s, watched, want, (uint64_t)s) == 0 ||
                ((errno == ENOENT || errno == EEXIST) && watch(ev, s, !watched, want, (uint64_t)s) == 0))
                *f = (unsigned char)(F_OURS | want | (want << WANT_SHIFT));
            else
                failed(ev);
        }
    } else if (want == 0) {
        unwatch(ev, s);
    } else {
        uint64_t data = (uint64_t)s | FOREIGN | ((uint64_t)want << FOREIGN_WANT_SHIFT);
        /* Whether epoll has it already is not known here: change it, else add it. */
        if (watch(ev, s, 1, want, data) != 0 && (errno != ENOENT || watch(ev, s, 0, want, data) != 0))
            failed(ev);
    }
    return 0;
}

/* CURLMOPT_TIMERFUNCTION: remember when; libcurl is called back from gc_events_wait. */
static int on_timer(CURLM *cm, long ms, void *userp)
{
    gc_events *ev = userp;
    (void)cm;
    ev->timer_at = ms < 0 ? -1 : gc_now_s() + (double)ms / 1000.0;
    return 0;
}

/* CURLOPT_OPENSOCKETFUNCTION: what libcurl itself would do, and the socket noted. */
static curl_socket_t on_open(void *clientp, curlsocktype purpose, struct curl_sockaddr *a)
{
    gc_events *ev = clientp;
    curl_socket_t s = socket(a->family, a->socktype | SOCK_CLOEXEC, a->protocol);
    (void)purpose;
    if (s == CURL_SOCKET_BAD)
        return s;
    if (s >= ev->nfds) {
        int n = ev->nfds ? ev->nfds : 64;
        unsigned char *p;
        while (n <= s)
            n *= 2;
        if ((p = realloc(ev->fds, (size_t)n)) == NULL) {
            close(s);
            errno = ENOMEM;                /* libcurl reports the connect as failed */
            return CURL_SOCKET_BAD;
        }
        while (ev->nfds < n)
            p[ev->nfds++] = 0;
        ev->fds = p;
    }
    ev->fds[s] = F_OURS;
    return s;
}

/* CURLOPT_CLOSESOCKETFUNCTION */
static int on_close(void *clientp, curl_socket_t s)
{
    gc_events *ev = clientp;
    if (ours(ev, s)) {
        if (WATCHED(ev->fds[s]))
            unwatch(ev, s);
        ev->fds[s] = 0;
    }
    return close(s);
}

int gc_events_init(gc_events *ev, CURLM *cm)
{
    pthread_once(&fork_once, watch_forks);
    if ((ev->ep = epoll_create1(EPOLL_CLOEXEC)) < 0)
        return errno ? errno : EIO;
    ev->forks = fork_count;
    ev->cm = cm;
    curl_multi_setopt(cm, CURLMOPT_SOCKETFUNCTION, on_socket);
    curl_multi_setopt(cm, CURLMOPT_SOCKETDATA, ev);
    curl_multi_setopt(cm, CURLMOPT_TIMERFUNCTION, on_timer);
    curl_multi_setopt(cm, CURLMOPT_TIMERDATA, ev);
    return 0;
}

void gc_events_easy(gc_events *ev, CURL *e)
{
    curl_easy_setopt(e, CURLOPT_OPENSOCKETFUNCTION, on_open);
    curl_easy_setopt(e, CURLOPT_OPENSOCKETDATA, ev);
    curl_easy_setopt(e, CURLOPT_CLOSESOCKETFUNCTION, on_close);
    curl_easy_setopt(e, CURLOPT_CLOSESOCKETDATA, ev);
}

/* libcurl's timers, when due. A timer that fired early by libcurl's clock leaves
 * no new one behind through the callback, so the next is asked for then. */
static CURLMcode run_timers(gc_events *ev)
{
    CURLMcode mc;
    long ms;
    int running;
    ev->timer_at = -1;
    mc = curl_multi_socket_action(ev->cm, CURL_SOCKET_TIMEOUT, 0, &running);
    if (mc == CURLM_OK && ev->timer_at < 0 && curl_multi_timeout(ev->cm, &ms) == CURLM_OK && ms >= 0)
        ev->timer_at = gc_now_s() + (double)ms / 1000.0;
    return mc;
}

/* One ready socket to libcurl, or out of epoll when libcurl no longer wants it. */
static CURLMcode run_socket(gc_events *ev, const struct epoll_event *e)
{
    curl_socket_t s = (curl_socket_t)(e->data.u64 & 0xffffffffu);
    int want, bits = 0, running;
    if (e->data.u64 & FOREIGN) {
        want = (int)(e->data.u64 >> FOREIGN_WANT_SHIFT) & POLL_BITS;
    } else {
        if (!ours(ev, s))                  /* closed by an earlier event of this round */
            return CURLM_OK;
        if ((want = WANTED(ev->fds[s])) == 0) {
            unwatch(ev, s);
            ev->fds[s] = F_OURS;
            return CURLM_OK;
        }
    }
    if ((want & CURL_POLL_IN) && (e->events & (EPOLLIN | EPOLLERR | EPOLLHUP)))
        bits |= CURL_CSELECT_IN;
    if ((want & CURL_POLL_OUT) && (e->events & (EPOLLOUT | EPOLLERR | EPOLLHUP)))
        bits |= CURL_CSELECT_OUT;
    if (bits == 0)
        return CURLM_OK;
    return curl_multi_socket_action(ev->cm, s, bits, &running);
}

CURLMcode gc_events_wait(gc_events *ev, double secs)
{
    struct epoll_event evs[MAX_EVENTS];
    double now = gc_now_s();
    CURLMcode mc;
    int i, n;
    if (ev->timer_at >= 0 && ev->timer_at <= now)
        return run_timers(ev);
    if (ev->timer_at >= 0 && ev->timer_at - now < secs)
        secs = ev->timer_at - now;
    n = epoll_wait(ev->ep, evs, MAX_EVENTS, secs > 0 ? wait_ms(secs) : 0);
    if (n < 0 && errno != EINTR) {     /* a signal only ends the wait */
        failed(ev);
        return CURLM_OK;
    }
    for (i = 0; i < n; i++)
        if ((mc = run_socket(ev, &evs[i])) != CURLM_OK)
            return mc;
    if (ev->timer_at >= 0 && ev->timer_at <= gc_now_s())
        return run_timers(ev);
    return CURLM_OK;
}

void gc_events_free(gc_events *ev)
{
    if (ev->ep >= 0)
        close(ev->ep);
    free(ev->fds);
    gc_events_zero(ev);
}

#else /* curl_multi_poll: every socket polled on every wake-up */

void gc_events_zero(gc_events *ev)
{
    ev->cm = NULL;
    ev->err = 0;
}

int gc_events_init(gc_events *ev, CURLM *cm)
{
    ev->cm = cm;
    return 0;
}

void gc_events_easy(gc_events *ev, CURL *e)
{
    (void)ev;
    (void)e;
}

CURLMcode gc_events_wait(gc_events *ev, double secs)
{
    CURLMcode mc;
    long ms = -1;
    int running;
    curl_multi_timeout(ev->cm, &ms);
    if (ms != 0 && (mc = curl_multi_poll(ev->cm, NULL, 0, secs > 0 ? wait_ms(secs) : 0, NULL)) != CURLM_OK)
        return mc;
    return curl_multi_perform(ev->cm, &running);
}

void gc_events_free(gc_events *ev)
{
    gc_events_zero(ev);
}

int gc_events_inherited(const gc_events *ev)
{
    (void)ev;
    return 0;
}

#endif
