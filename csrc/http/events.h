/* events.h: waiting for a libcurl multi handle's sockets and timers (multi.c's loop).
 *
 * On Linux the loop is event-driven: libcurl tells us which sockets it waits on
 * (CURLMOPT_SOCKETFUNCTION) and when it next needs the time (CURLMOPT_TIMERFUNCTION),
 * epoll waits for them, and curl_multi_socket_action is handed only the sockets that
 * are ready, with their readiness, so libcurl neither polls every socket on every
 * wake-up nor checks again what epoll just said. Elsewhere (or built with
 * -DGC_EVENTS_POLL) it is curl_multi_poll + curl_multi_perform.
 *
 * Every callback here is C: no Lua runs inside libcurl, nothing raises there. A
 * failure inside a callback (epoll_ctl refused) is kept in `err` for the caller to
 * report once libcurl has returned. */
#ifndef GRAPHCOMM_EVENTS_H
#define GRAPHCOMM_EVENTS_H

#include <curl/curl.h>

#if defined(__linux__) && !defined(GC_EVENTS_POLL)
#define GC_EVENTS_EPOLL 1
#endif

typedef struct gc_events {
    CURLM *cm;
    int err;                /* errno of the first failure in a callback; 0 */
#ifdef GC_EVENTS_EPOLL
    int ep;                 /* the epoll descriptor; -1 */
    double timer_at;        /* when libcurl wants CURL_SOCKET_TIMEOUT (monotonic s); < 0: never */
    unsigned char *fds;     /* by descriptor number: the sockets this loop opened (see events.c) */
    int nfds;
    unsigned forks;         /* fork_count when it was made (events.c) */
#endif
} gc_events;

/* Before anything can fail: a state that gc_events_free accepts. */
void gc_events_zero(gc_events *ev);
/* Takes over cm's socket and timer callbacks; 0, or an errno. */
int gc_events_init(gc_events *ev, CURLM *cm);
/* Sets the socket open/close callbacks on e (a template: curl_easy_duphandle copies them). */
void gc_events_easy(gc_events *ev, CURL *e);
/* Lets libcurl act: at once when it is due, else after waiting up to `secs` for a
 * socket or libcurl's next timer. Finished transfers are then in curl_multi_info_read. */
CURLMcode gc_events_wait(gc_events *ev, double secs);
/* After curl_multi_cleanup (whose callbacks may still come here). */
void gc_events_free(gc_events *ev);
/* Whether ev was made in a parent process: its epoll instance is shared with the
 * parent, so this process only closes it (never changes it) and may not wait on it. */
int gc_events_inherited(const gc_events *ev);

/* CLOCK_MONOTONIC in seconds. */
double gc_now_s(void);

#endif
