/* keepalive.c — one thread per session: PING on silence, PONG on request. */
#include "engine/net/keepalive.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct ss_keepalive {
    ss_session *s;
    int interval_ms;
    pthread_t thread;
    int started;
    pthread_mutex_t mu;
    pthread_cond_t cv;      /* on CLOCK_MONOTONIC */
    int stop, pong_due;
    atomic_ulong pings;
};

int ss_keepalive_interval(int timeout_ms)
{
    if (timeout_ms <= 0)
        return 1000;
    int i = timeout_ms / 4;
    return i < 100 ? 100 : i > 2000 ? 2000 : i;
}

static void add_ms(struct timespec *t, int ms)
{
    t->tv_sec += ms / 1000;
    t->tv_nsec += (long)(ms % 1000) * 1000000L;
    if (t->tv_nsec >= 1000000000L) {
        t->tv_sec++;
        t->tv_nsec -= 1000000000L;
    }
}

static int before(const struct timespec *a, const struct timespec *b)
{
    return a->tv_sec < b->tv_sec || (a->tv_sec == b->tv_sec && a->tv_nsec < b->tv_nsec);
}

static void send_type(ss_keepalive *k, ss_msg_type t)
{
    ss_msg m;
    ss_err e;
    memset(&m, 0, sizeof m);
    m.type = t;
    if (ss_session_send(k->s, &m, &e) == 0 && t == SS_MSG_PING)
        atomic_fetch_add(&k->pings, 1);
}

static void *keepalive_main(void *arg)
{
    ss_keepalive *k = arg;
    struct timespec deadline;
    clock_gettime(CLOCK_MONOTONIC, &deadline);
    add_ms(&deadline, k->interval_ms);
    uint64_t last_in = ss_session_bytes_in(k->s);
    for (;;) {
        pthread_mutex_lock(&k->mu);
        struct timespec now;
        clock_gettime(CLOCK_MONOTONIC, &now);
        while (!k->stop && !k->pong_due && before(&now, &deadline)) {
            pthread_cond_timedwait(&k->cv, &k->mu, &deadline);
            clock_gettime(CLOCK_MONOTONIC, &now);
        }
        if (k->stop) {
            pthread_mutex_unlock(&k->mu);
            break;
        }
        int pong = k->pong_due;
        k->pong_due = 0;
        int tick = !before(&now, &deadline);
        pthread_mutex_unlock(&k->mu);
        if (pong)
            send_type(k, SS_MSG_PONG);
        if (tick) {
            deadline = now;
            add_ms(&deadline, k->interval_ms);
            uint64_t in = ss_session_bytes_in(k->s);
            if (in == last_in)
                send_type(k, SS_MSG_PING);
            last_in = in;
        }
    }
    return NULL;
}

int ss_keepalive_start(ss_keepalive **out, ss_session *s, int interval_ms, ss_err *err)
{
    *out = NULL;
    ss_keepalive *k = calloc(1, sizeof *k);
    if (!k)
        return ss_seterr(err, SS_EINTERNAL, ENOMEM, "out of memory");
    k->s = s;
    k->interval_ms = interval_ms > 0 ? interval_ms : 2000;
    pthread_mutex_init(&k->mu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&k->cv, &ca);
    pthread_condattr_destroy(&ca);
    int rc = pthread_create(&k->thread, NULL, keepalive_main, k);
    if (rc != 0) {
        ss_keepalive_free(k);
        return ss_seterr(err, SS_EINTERNAL, rc, "cannot start the keepalive thread");
    }
    k->started = 1;
    *out = k;
    return 0;
}

void ss_keepalive_pong(ss_keepalive *k)
{
    pthread_mutex_lock(&k->mu);
    k->pong_due = 1;
    pthread_cond_signal(&k->cv);
    pthread_mutex_unlock(&k->mu);
}

void ss_keepalive_stop(ss_keepalive *k)
{
    if (!k)
        return;
    pthread_mutex_lock(&k->mu);
    k->stop = 1;
    pthread_cond_signal(&k->cv);
    pthread_mutex_unlock(&k->mu);
    if (k->started)
        pthread_join(k->thread, NULL);
    k->started = 0;
}

void ss_keepalive_free(ss_keepalive *k)
{
    if (!k)
        return;
    ss_keepalive_stop(k);
    pthread_cond_destroy(&k->cv);
    pthread_mutex_destroy(&k->mu);
    free(k);
}

unsigned long ss_keepalive_pings(const ss_keepalive *k)
{
    return k ? atomic_load(&((ss_keepalive *)k)->pings) : 0;
}
