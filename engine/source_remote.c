/* source_remote.c — the source side is a segsync agent at the other end of
 * a byte stream. One reader thread receives every message and hands each
 * RANGE_DATA to the worker that asked for it (by request id). */
#include "engine/source_remote.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <semaphore.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "engine/net/keepalive.h"
#include "engine/net/session.h"
#include "engine/pathsafe.h"

typedef struct {
    uint64_t off;
    uint32_t len;
    ss_hash_kind kind;
    ss_sig hash;
} data_run;

typedef enum { REQ_RANGE, REQ_FILE } req_kind;

/* What a waiting request sleeps on. Owned by the session, reused, freed
 * only with it: the reader signals after releasing the mutex (a waiter
 * woken while the reader still holds it would only block again on it), at
 * which point the request may already be finished and gone; a late signal
 * then reaches a recycled waiter, which sees a spurious wake-up. */
typedef struct waiter {
    pthread_cond_t cv;
    struct waiter *next;
} waiter;

typedef struct pending {
    uint64_t id;
    req_kind kind;
    int live;               /* RANGE_GONE is an answer */
    uint64_t off, len;
    char *buf;              /* the worker's buffer: bytes of [off, off+len) */
    waiter *w;
    data_run *runs;
    size_t nruns, cap;
    size_t unsignaled;      /* bytes of runs announced without a wake-up */
    int done;               /* 1 RANGE_END / FILE_DATA, 2 RANGE_GONE, -1 failed (err) */
    ss_err err;
    /* REQ_FILE: at most fmax bytes; the answer (malloc'd, NUL after flen) */
    uint32_t fmax;
    char *fbuf;
    size_t flen;
    int absent;
    struct pending *next;
} pending;

typedef struct remote_source remote_source;

/* What list() and range() serve: the base session's whole tree, or a
 * subtree view of it (ss_source_remote_subtree). */
typedef struct {
    ss_source base;
    remote_source *rs;
    char *prefix;           /* prepended (with '/') to paths on the wire; NULL none */
    ss_walk_opts wo;
    int has_wo;
    int live;
} rview;

struct remote_source {
    rview v;                /* first: the base source is a view of the root */
    char *name;
    ss_session *s;
    pthread_t reader;
    int reader_started;
    pthread_mutex_t mu;
    pending *reqs;
    waiter *idle_waiters;   /* under mu */
    uint64_t next_id;
    int dead;               /* the session is over: every call fails with dead_err */
    int closing;            /* we sent END: the end of the stream is expected */
    ss_err dead_err;
    pthread_mutex_t list_mu;    /* one list() at a time, whichever view */
    pthread_cond_t list_cv;
    int list_state;         /* 0 idle, 1 waiting, 2 done, -1 session failed,
                             * -2 this listing failed (list_err) */
    ss_err list_err;
    ss_entry_list list;
    ss_msg_list_end list_end;
    uint32_t caps;          /* granted by the agent's HELLO */
    ss_keepalive *ka;       /* SS_CAP_KEEPALIVE: PINGs on silence, PONGs */
    pid_t child;
    char *subdir;           /* NULL = the agent's ROOT */
    /* The engine runs more workers than CPUs so that enough requests are
     * in flight to cover the round trip; this lets only as many of them
     * read and hash the target's chunk at once as there are CPUs, so the
     * rest wait for answers instead of thrashing the caches. */
    sem_t cpu_gate;
    /* A RANGE_REQ went out unflushed (range_start): the next wait flushes. */
    atomic_int unflushed;
};

/* Why the agent's process ended, for the message of a dropped connection. */
static void child_status(remote_source *rs, char *buf, size_t n)
{
    buf[0] = 0;
    if (rs->child <= 0)
        return;
    int st = 0;
    pid_t r = 0;
    for (int i = 0; i < 200 && (r = waitpid(rs->child, &st, WNOHANG)) == 0; i++)
        nanosleep(&(struct timespec){ 0, 10 * 1000 * 1000 }, NULL);
    if (r != rs->child)
        return;
    rs->child = 0;
    if (WIFEXITED(st) && WEXITSTATUS(st) == 127)
        snprintf(buf, n, " (exit status 127: the remote shell or segsync was not found)");
    else if (WIFEXITED(st))
        snprintf(buf, n, " (the remote command exited with status %d)", WEXITSTATUS(st));
    else if (WIFSIGNALED(st))
        snprintf(buf, n, " (the remote command was killed by signal %d)", WTERMSIG(st));
}

/* Under mu: the session is over; wake everyone. */
static void fail_all_locked(remote_source *rs, const ss_err *e)
{
    if (!rs->dead)
        rs->dead_err = *e;
    rs->dead = 1;
    for (pending *p = rs->reqs; p; p = p->next) {
        p->done = -1;
        p->err = rs->dead_err;
        pthread_cond_signal(&p->w->cv);
    }
    rs->reqs = NULL;
    if (rs->list_state == 1)
        rs->list_state = -1;
    pthread_cond_broadcast(&rs->list_cv);
}

static void fail_all(remote_source *rs, const ss_err *e)
{
    pthread_mutex_lock(&rs->mu);
    fail_all_locked(rs, e);
    pthread_mutex_unlock(&rs->mu);
}

static pending *find_locked(remote_source *rs, uint64_t id, int unlink)
{
    for (pending **pp = &rs->reqs; *pp; pp = &(*pp)->next)
        if ((*pp)->id == id) {
            pending *p = *pp;
            if (unlink)
                *pp = p->next;
            return p;
        }
    return NULL;
}

static int on_data(remote_source *rs, const ss_msg_range_data *d, ss_err *err)
{
    pthread_mutex_lock(&rs->mu);
    pending *p = find_locked(rs, d->id, 0);
    pthread_mutex_unlock(&rs->mu);
    if (!p || p->kind != REQ_RANGE)
        return ss_seterr(err, SS_EPROTO, 0, "source %s: RANGE_DATA for unknown request %llu",
                         rs->name, (unsigned long long)d->id);
    if (d->off < p->off || d->len > p->len || d->off - p->off > p->len - d->len)
        return ss_seterr(err, SS_EPROTO, 0,
                         "source %s: RANGE_DATA at %llu+%u outside the requested range",
                         rs->name, (unsigned long long)d->off, d->len);
    /* The waiting worker does not touch this part of its buffer until the
     * run is announced below. */
    memcpy(p->buf + (d->off - p->off), d->data, d->len);
    pthread_mutex_lock(&rs->mu);
    if (p->nruns == p->cap) {
        size_t cap = p->cap ? p->cap * 2 : 8;
        data_run *r = realloc(p->runs, cap * sizeof *r);
        if (!r) {
            pthread_mutex_unlock(&rs->mu);
            return ss_seterr(err, SS_EINTERNAL, ENOMEM, "out of memory");
        }
        p->runs = r;
        p->cap = cap;
    }
    p->runs[p->nruns++] = (data_run){ d->off, d->len, d->hash_kind, d->hash };
    /* The runs of one range arrive in a burst closed by RANGE_END, which
     * wakes the worker; waking it for every 8 KiB run as well costs a
     * futex round trip each. Large answers still stream. */
    p->unsignaled += d->len;
    pthread_cond_t *wake = NULL;
    if (p->unsignaled >= (1u << 20)) {
        p->unsignaled = 0;
        wake = &p->w->cv;
    }
    pthread_mutex_unlock(&rs->mu);
    if (wake)
        pthread_cond_signal(wake);
    return 0;
}

/* A whole file: checked and copied out of the frame for the waiting caller. */
static int on_file(remote_source *rs, const ss_msg_file_data *d, ss_err *err)
{
    pthread_mutex_lock(&rs->mu);
    pending *p = find_locked(rs, d->id, 0);
    if (!p || p->kind != REQ_FILE) {
        pthread_mutex_unlock(&rs->mu);
        return ss_seterr(err, SS_EPROTO, 0, "source %s: FILE_DATA for unknown request %llu",
                         rs->name, (unsigned long long)d->id);
    }
    if (d->len > p->fmax) {
        pthread_mutex_unlock(&rs->mu);
        return ss_seterr(err, SS_EPROTO, 0,
                         "source %s: FILE_DATA of %u bytes for a request of at most %u",
                         rs->name, d->len, p->fmax);
    }
    /* Unlisted, p is ours until done is set: check and copy unlocked. */
    find_locked(rs, d->id, 1);
    pthread_mutex_unlock(&rs->mu);
    int rc = 0, done = 1;
    ss_err perr = { 0 };
    char *copy = NULL;
    if (ss_msg_file_data_verify(d, err) < 0) {
        ss_err_prefix(err, ": ");
        ss_err_prefix(err, rs->name);
        ss_err_prefix(err, "source ");
        perr = *err;
        done = rc = -1;     /* this request and, after, the session */
    } else if (!(copy = malloc((size_t)d->len + 1))) {
        ss_seterr(&perr, SS_EINTERNAL, ENOMEM, "out of memory");
        done = -1;
    } else {
        memcpy(copy, d->data, d->len);
        copy[d->len] = 0;
    }
    pthread_mutex_lock(&rs->mu);
    p->absent = d->absent;
    p->flen = d->len;
    p->fbuf = copy;
    p->err = perr;
    p->done = done;
    pthread_cond_t *wake = &p->w->cv;
    pthread_mutex_unlock(&rs->mu);
    pthread_cond_signal(wake);
    return rc;
}

static int on_list(remote_source *rs, const ss_msg_list_entry *l, ss_err *err)
{
    int rc = 0;
    pthread_mutex_lock(&rs->mu);
    if (rs->list_state != 1)
        rc = ss_seterr(err, SS_EPROTO, 0, "source %s: unexpected LIST_ENTRY", rs->name);
    for (size_t i = 0; rc == 0 && i < l->n; i++)
        rc = ss_entry_list_push(&rs->list, &l->v[i], err);
    pthread_mutex_unlock(&rs->mu);
    return rc;
}

static void *reader_main(void *arg)
{
    remote_source *rs = arg;
    for (;;) {
        ss_msg m;
        ss_err e = { 0 };
        int r = ss_session_recv(rs->s, &m, &e);
        if (r < 0 && e.sys_errno == ETIMEDOUT) {
            /* An agent with keepalive answers our PINGs, so its silence
             * means it (or the link) is gone. An older one is silent
             * whenever nothing is asked: then only silence while
             * something is asked is an error. */
            pthread_mutex_lock(&rs->mu);
            int waiting = rs->reqs != NULL || rs->list_state == 1;
            int closing = rs->closing;
            pthread_mutex_unlock(&rs->mu);
            int ka = (rs->caps & SS_CAP_KEEPALIVE) != 0;
            if (!waiting && !closing && !ka)
                continue;
            const char *dur = strstr(e.msg, " for ") ? strstr(e.msg, " for ") + 5 : "too long";
            if (waiting || closing)
                ss_seterr(&e, SS_ESOURCE, 0,
                          "source %s: no data from the agent for %s while requests were "
                          "outstanding (connection idle; see --timeout)", rs->name, dur);
            else
                ss_seterr(&e, SS_ESOURCE, 0,
                          "source %s: no data from the agent for %s, not even an answer to "
                          "a keepalive (connection idle; see --timeout)", rs->name, dur);
            fail_all(rs, &e);
            return NULL;
        }
        if (r <= 0) {
            pthread_mutex_lock(&rs->mu);
            int closing = rs->closing;
            pthread_mutex_unlock(&rs->mu);
            char why[128];
            child_status(rs, why, sizeof why);
            if (closing && r == 0)
                ss_seterr(&e, SS_EINTERNAL, 0, "source %s: session closed", rs->name);
            else if (r == 0)
                ss_seterr(&e, SS_ESOURCE, 0,
                          "source %s: connection closed by the agent (it exited or was "
                          "killed)%s", rs->name, why);
            else {
                ss_err_prefix(&e, ": ");
                ss_err_prefix(&e, rs->name);
                ss_err_prefix(&e, "source ");
                if (why[0] && strlen(e.msg) + strlen(why) < sizeof e.msg)
                    strcat(e.msg, why);
            }
            fail_all(rs, &e);
            return NULL;
        }
        int rc = 0, stop = 0;
        switch (m.type) {
        case SS_MSG_LIST_ENTRY:
            rc = on_list(rs, &m.u.list, &e);
            break;
        case SS_MSG_LIST_END:
            pthread_mutex_lock(&rs->mu);
            if (rs->list_state == 1) {
                rs->list_state = 2;
                rs->list_end = m.u.list_end;
            } else {
                rc = ss_seterr(&e, SS_EPROTO, 0, "source %s: unexpected LIST_END", rs->name);
            }
            pthread_cond_broadcast(&rs->list_cv);
            pthread_mutex_unlock(&rs->mu);
            break;
        case SS_MSG_RANGE_DATA:
            rc = on_data(rs, &m.u.range_data, &e);
            break;
        case SS_MSG_FILE_DATA:
            rc = on_file(rs, &m.u.file_data, &e);
            break;
        case SS_MSG_RANGE_GONE: {
            uint64_t id = m.u.range_end.id;
            pthread_mutex_lock(&rs->mu);
            pending *p = find_locked(rs, id, 0);
            pthread_cond_t *wake = NULL;
            if (p && p->kind == REQ_RANGE && p->live) {
                find_locked(rs, id, 1);
                p->done = 2;
                wake = &p->w->cv;
            } else {
                rc = ss_seterr(&e, SS_EPROTO, 0, "source %s: RANGE_GONE for %s request %llu",
                               rs->name, p ? "a non-live" : "unknown", (unsigned long long)id);
            }
            pthread_mutex_unlock(&rs->mu);
            if (wake)
                pthread_cond_signal(wake);
            break;
        }
        case SS_MSG_RANGE_END:
        case SS_MSG_ERROR: {
            uint64_t id = m.type == SS_MSG_ERROR ? m.u.error.id : m.u.range_end.id;
            if (m.type == SS_MSG_ERROR && id == 0) {
                rc = ss_seterr(&e, m.u.error.kind, 0, "source %s: %s", rs->name, m.u.error.text);
                break;
            }
            if (m.type == SS_MSG_ERROR && id == SS_MSG_ID_LIST) {
                pthread_mutex_lock(&rs->mu);
                if (rs->list_state == 1) {
                    rs->list_state = -2;
                    ss_seterr(&rs->list_err, m.u.error.kind, 0, "source %s: %s", rs->name,
                              m.u.error.text);
                    pthread_cond_broadcast(&rs->list_cv);
                } else {
                    rc = ss_seterr(&e, SS_EPROTO, 0, "source %s: unexpected LIST error",
                                   rs->name);
                }
                pthread_mutex_unlock(&rs->mu);
                break;
            }
            pthread_mutex_lock(&rs->mu);
            pending *p = find_locked(rs, id, 0);
            pthread_cond_t *wake = NULL;
            if (p && m.type == SS_MSG_RANGE_END && p->kind != REQ_RANGE)
                p = NULL;
            if (p) {
                find_locked(rs, id, 1);
                if (m.type == SS_MSG_ERROR) {
                    p->done = -1;
                    ss_seterr(&p->err, m.u.error.kind, 0, "source %s: %s", rs->name,
                              m.u.error.text);
                } else {
                    p->done = 1;
                }
                wake = &p->w->cv;
            }
            pthread_mutex_unlock(&rs->mu);
            if (wake)
                pthread_cond_signal(wake);
            if (!p)
                rc = ss_seterr(&e, SS_EPROTO, 0, "source %s: %s for unknown request %llu",
                               rs->name, ss_msg_type_name(m.type), (unsigned long long)id);
            break;
        }
        case SS_MSG_PING:
            if (rs->ka)
                ss_keepalive_pong(rs->ka);
            break;
        case SS_MSG_PONG:
            break;      /* heard: that is all a PONG is for */
        case SS_MSG_END:
            ss_seterr(&e, SS_ESOURCE, 0, "source %s: the agent ended the session", rs->name);
            rc = -1;
            stop = 1;
            break;
        default:
            rc = ss_seterr(&e, SS_EPROTO, 0, "source %s: unexpected %s message", rs->name,
                           ss_msg_type_name(m.type));
            break;
        }
        ss_msg_free(&m);
        if (rc < 0 || stop) {
            fail_all(rs, &e);
            return NULL;
        }
    }
}

/* The prefix of a view joined with rel ("" = the prefix itself) into full
 * (SS_NET_PATH_MAX + 1 bytes): the path on the wire, NULL for the root. */
static const char *wire_path(const rview *v, const char *rel, char *full, ss_err *err)
{
    if (!v->prefix)
        return rel && *rel ? rel : NULL;
    if (!rel || !*rel)
        return v->prefix;
    int n = snprintf(full, SS_NET_PATH_MAX + 1, "%s/%s", v->prefix, rel);
    if (n < 0 || n > SS_NET_PATH_MAX) {
        ss_seterr(err, SS_EUSAGE, 0, "source %s: path %s/%s is too long", v->rs->name,
                  v->prefix, rel);
        return NULL;
    }
    return full;
}

/* A send failed with se. Usually the agent is gone, and why it went (its
 * ERROR message, or how its process ended) reaches the reader just after.
 * Under mu: wait a bounded time for the reader to learn it, so the user
 * sees that cause instead of a broken pipe; else se, named as a send. */
static void send_failed_locked(remote_source *rs, ss_err *se)
{
    ss_err_prefix(se, ": cannot send: ");
    ss_err_prefix(se, rs->name);
    ss_err_prefix(se, "source ");
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += 5;
    while (!rs->dead && pthread_cond_timedwait(&rs->list_cv, &rs->mu, &until) == 0)
        ;
    if (rs->dead)
        *se = rs->dead_err;
}

static int view_list(ss_source *s, ss_entry_list *out, ss_err *err)
{
    rview *v = (rview *)s;
    remote_source *rs = v->rs;
    memset(out, 0, sizeof *out);
    char full[SS_NET_PATH_MAX + 1];
    ss_err pe;
    const char *path = wire_path(v, NULL, full, &pe);
    pthread_mutex_lock(&rs->list_mu);
    pthread_mutex_lock(&rs->mu);
    if (rs->dead) {
        *err = rs->dead_err;
        pthread_mutex_unlock(&rs->mu);
        pthread_mutex_unlock(&rs->list_mu);
        return -1;
    }
    ss_entry_list_free(&rs->list);
    memset(&rs->list, 0, sizeof rs->list);
    memset(&rs->list_end, 0, sizeof rs->list_end);
    rs->list_state = 1;
    pthread_mutex_unlock(&rs->mu);
    ss_msg m;
    memset(&m, 0, sizeof m);
    m.type = SS_MSG_LIST_REQ;
    m.u.list_req.path = (char *)path;
    ss_err se;
    int sent = ss_session_send(rs->s, &m, &se);
    pthread_mutex_lock(&rs->mu);
    while (sent == 0 && rs->list_state == 1)
        pthread_cond_wait(&rs->list_cv, &rs->mu);
    if (sent < 0)
        send_failed_locked(rs, &se);
    int rc = 0;
    if (rs->list_state != 2) {
        if (rs->list_state == -2)
            *err = rs->list_err;
        else if (rs->dead)
            *err = rs->dead_err;
        else
            *err = se;
        rc = -1;
    } else {
        *out = rs->list;
        memset(&rs->list, 0, sizeof rs->list);
        out->root.path = (char *)"";
        if (rs->list_end.has_root) {
            out->root.type = SS_FT_DIR;
            out->root.mode = rs->list_end.mode;
            out->root.uid = rs->list_end.uid;
            out->root.gid = rs->list_end.gid;
            out->root.mtime_sec = rs->list_end.mtime_sec;
            out->root.mtime_nsec = rs->list_end.mtime_nsec;
            out->root.nlink = 2;
        } else {
            /* An agent without SS_CAP_EXT does not say: leave the root alone. */
            out->root.type = SS_FT_OTHER;
        }
    }
    rs->list_state = 0;
    pthread_mutex_unlock(&rs->mu);
    pthread_mutex_unlock(&rs->list_mu);
    if (rc == 0) {
        ss_entry_list_sort(out);
        if (ss_walk_apply_opts(v->has_wo ? &v->wo : NULL, out, err) < 0) {
            ss_entry_list_free(out);
            rc = -1;
        }
    }
    return rc;
}

/* The send for p failed (se): fail p with the reason the agent went. */
static void req_unsent(remote_source *rs, pending *p, ss_err *se)
{
    pthread_mutex_lock(&rs->mu);
    send_failed_locked(rs, se);
    if (find_locked(rs, p->id, 1))
        p->done = -1, p->err = *se;
    pthread_mutex_unlock(&rs->mu);
}

/* Send the request registered as p. A failure to send fails p (the
 * caller learns it from wait_answer), so every registered request is
 * waited for the same way. Unflushed (a batch's requests: one write to
 * the transport, and one wake-up of ssh, sshd and the agent, for all of
 * them), it goes out at the latest when a caller next waits. */
static void send_req(remote_source *rs, pending *p, ss_msg *m, int flush)
{
    ss_err se;
    int rc = flush ? ss_session_send(rs->s, m, &se) : ss_session_send_more(rs->s, m, &se);
    if (rc < 0)
        req_unsent(rs, p, &se);
    else if (!flush)
        atomic_store(&rs->unflushed, 1);
}

/* Wait until the request registered as p is answered. RANGE runs go to
 * the sink as they arrive. 0 done, 1 RANGE_GONE, -1 failed. */
static int wait_answer(remote_source *rs, pending *p, ss_block_sink sink, void *sctx,
                       ss_err *err)
{
    /* Hand each run to the sink as it arrives; keep waiting until the
     * request is closed even after a failure, so the reader never writes
     * into a buffer that was handed back. */
    int rc = 0;
    size_t taken = 0;
    if (atomic_exchange(&rs->unflushed, 0)) {
        ss_err se;
        if (ss_session_flush(rs->s, &se) < 0)
            req_unsent(rs, p, &se);
    }
    pthread_mutex_lock(&rs->mu);
    for (;;) {
        while (taken == p->nruns && !p->done)
            pthread_cond_wait(&p->w->cv, &rs->mu);
        if (taken == p->nruns)
            break;
        data_run r = p->runs[taken++];
        pthread_mutex_unlock(&rs->mu);
        if (rc == 0) {
            ss_msg_range_data d = { p->id, r.off, r.len, r.kind, r.hash,
                                    p->buf + (r.off - p->off) };
            if (ss_msg_range_data_verify(&d, err) < 0) {
                ss_err_prefix(err, ": ");
                ss_err_prefix(err, rs->name);
                ss_err_prefix(err, "source ");
                rc = -1;
            } else if (sink(sctx, r.off, d.data, r.len, err) < 0) {
                rc = -1;
            }
        }
        pthread_mutex_lock(&rs->mu);
    }
    if (p->done < 0 && rc == 0) {
        *err = p->err;
        rc = -1;
    }
    if (p->done == 2 && rc == 0)
        rc = 1;
    p->w->next = rs->idle_waiters;
    rs->idle_waiters = p->w;
    p->w = NULL;
    pthread_mutex_unlock(&rs->mu);
    return rc;
}

/* Register p under a fresh id; -1 when the session is over. */
static int add_pending(remote_source *rs, pending *p, ss_err *err)
{
    pthread_mutex_lock(&rs->mu);
    if (rs->dead) {
        *err = rs->dead_err;
        pthread_mutex_unlock(&rs->mu);
        return -1;
    }
    if (rs->idle_waiters) {
        p->w = rs->idle_waiters;
        rs->idle_waiters = p->w->next;
    } else if ((p->w = malloc(sizeof *p->w)) != NULL) {
        pthread_cond_init(&p->w->cv, NULL);
    } else {
        pthread_mutex_unlock(&rs->mu);
        return ss_seterr(err, SS_EINTERNAL, ENOMEM, "out of memory");
    }
    p->id = ++rs->next_id;
    p->next = rs->reqs;
    rs->reqs = p;
    pthread_mutex_unlock(&rs->mu);
    return 0;
}

struct ss_range_op {
    pending p;
};

static int view_range_start(ss_source *s, const ss_range_req *req, void *buf, ss_tsig_fn tsig,
                            void *tctx, ss_range_op **op, ss_err *err)
{
    rview *v = (rview *)s;
    remote_source *rs = v->rs;
    *op = NULL;
    if (req->len > SS_NET_MAX_CHUNK)
        return ss_seterr(err, SS_EINTERNAL, 0, "range larger than a request may be");
    const ss_sig *t = NULL;
    size_t nt = 0;
    /* Signatures first: they travel in the request. */
    if (req->compare) {
        while (sem_wait(&rs->cpu_gate) < 0 && errno == EINTR)
            ;
        int trc = tsig(tctx, &t, &nt, err);
        sem_post(&rs->cpu_gate);
        if (trc < 0)
            return -1;
    }
    size_t nblocks = (size_t)((req->len + req->block_size - 1) / req->block_size);
    if (nt > nblocks)
        nt = nblocks;

    /* Paths in RANGE_REQ are relative to the agent's ROOT. */
    char full[SS_NET_PATH_MAX + 1];
    const char *path = wire_path(v, req->path, full, err);
    if (!path)
        return -1;

    ss_range_op *o = calloc(1, sizeof *o);
    if (!o)
        return ss_seterr(err, SS_EINTERNAL, ENOMEM, "out of memory");
    pending *p = &o->p;
    p->kind = REQ_RANGE;
    p->live = v->live;
    p->off = req->off;
    p->len = req->len;
    p->buf = buf;
    if (add_pending(rs, p, err) < 0) {
        free(o);
        return -1;
    }
    ss_msg m;
    memset(&m, 0, sizeof m);
    m.type = SS_MSG_RANGE_REQ;
    m.u.range_req = (ss_msg_range_req){
        .id = p->id, .path = (char *)path, .file_size = req->file_size, .off = req->off,
        .len = req->len, .block_size = req->block_size, .last = req->last,
        .compare = req->compare, .live = v->live, .sigs = (ss_sig *)t, .nsigs = nt,
    };
    send_req(rs, p, &m, 0);
    *op = o;
    return 0;
}

static int view_range_finish(ss_source *s, ss_range_op *op, ss_block_sink sink, void *sctx,
                             ss_err *err)
{
    int rc = wait_answer(((rview *)s)->rs, &op->p, sink, sctx, err);
    free(op->p.runs);
    free(op);
    return rc;
}

static int view_range(ss_source *s, ss_worker *w, const ss_range_req *req, ss_tsig_fn tsig,
                      void *tctx, ss_block_sink sink, void *sctx, ss_err *err)
{
    if (req->len > w->buf_size)
        return ss_seterr(err, SS_EINTERNAL, 0, "range larger than the worker buffer");
    ss_range_op *op;
    if (view_range_start(s, req, w->buf, tsig, tctx, &op, err) < 0)
        return -1;
    return view_range_finish(s, op, sink, sctx, err);
}

static uint64_t view_wire_bytes(ss_source *s)
{
    return ss_session_bytes_in(((rview *)s)->rs->s);
}

static void view_destroy(ss_source *s)
{
    rview *v = (rview *)s;
    free(v->prefix);
    free(v);
}

static rview *as_view(ss_source *s);

/* END, then our sending side closed: the agent finishes and goes while
 * we do something else; the reader takes the end of its stream as
 * expected. Once. */
static void say_goodbye(remote_source *rs)
{
    if (!rs->s)
        return;
    pthread_mutex_lock(&rs->mu);
    int dead = rs->dead, again = rs->closing;
    rs->closing = 1;
    pthread_mutex_unlock(&rs->mu);
    if (again)
        return;
    ss_err e;
    ss_keepalive_stop(rs->ka);
    if (!dead) {
        ss_msg m;
        memset(&m, 0, sizeof m);
        m.type = SS_MSG_END;
        ss_session_send(rs->s, &m, &e);
    }
    ss_session_close_write(rs->s, &e);
}

void ss_source_remote_finish(ss_source *s)
{
    rview *v = as_view(s);
    if (v)
        say_goodbye(v->rs);
}

static void remote_destroy(ss_source *s)
{
    remote_source *rs = ((rview *)s)->rs;
    if (rs->s) {
        say_goodbye(rs);
        if (rs->reader_started)
            pthread_join(rs->reader, NULL);
        ss_session_close(rs->s);
    }
    ss_keepalive_free(rs->ka);
    if (rs->child > 0)
        while (waitpid(rs->child, NULL, 0) < 0 && errno == EINTR)
            ;
    ss_entry_list_free(&rs->list);
    /* Every request has returned its waiter by now (destroy runs after
     * the engine's workers are joined). */
    while (rs->idle_waiters) {
        waiter *w = rs->idle_waiters;
        rs->idle_waiters = w->next;
        pthread_cond_destroy(&w->cv);
        free(w);
    }
    pthread_cond_destroy(&rs->list_cv);
    pthread_mutex_destroy(&rs->list_mu);
    pthread_mutex_destroy(&rs->mu);
    sem_destroy(&rs->cpu_gate);
    free(rs->name);
    free(rs->subdir);
    free(rs);
}

static const ss_source_ops remote_ops = {
    .list = view_list,
    .range = view_range,
    .wire_bytes = view_wire_bytes,
    .range_start = view_range_start,
    .range_finish = view_range_finish,
    .destroy = remote_destroy,
};

static const ss_source_ops view_ops = {
    .list = view_list,
    .range = view_range,
    .wire_bytes = view_wire_bytes,
    .range_start = view_range_start,
    .range_finish = view_range_finish,
    .destroy = view_destroy,
};

static rview *as_view(ss_source *s)
{
    return s && (s->ops == &remote_ops || s->ops == &view_ops) ? (rview *)s : NULL;
}

int ss_source_remote_read_file(ss_source *s, const char *path, size_t max, void **buf,
                               size_t *len, ss_err *err)
{
    *buf = NULL;
    *len = 0;
    rview *v = as_view(s);
    if (!v)
        return ss_seterr(err, SS_EINTERNAL, 0, "not a remote source");
    remote_source *rs = v->rs;
    if (!(rs->caps & SS_CAP_EXT))
        return ss_seterr(err, SS_ESOURCE, 0,
                         "source %s: the agent is too old to read single files (upgrade "
                         "segsync on the source host)", rs->name);
    if (!path || !ss_path_is_safe(path))
        return ss_seterr(err, SS_EUSAGE, 0, "source %s: refused path \"%s\"", rs->name,
                         path ? path : "");
    char full[SS_NET_PATH_MAX + 1];
    const char *wp = wire_path(v, path, full, err);
    if (!wp)
        return -1;
    pending p;
    memset(&p, 0, sizeof p);
    p.kind = REQ_FILE;
    p.fmax = max > SS_NET_MAX_CHUNK ? SS_NET_MAX_CHUNK : (uint32_t)max;
    if (add_pending(rs, &p, err) < 0)
        return -1;
    ss_msg m;
    memset(&m, 0, sizeof m);
    m.type = SS_MSG_FILE_REQ;
    m.u.file_req = (ss_msg_file_req){ .id = p.id, .path = (char *)wp, .max = p.fmax };
    send_req(rs, &p, &m, 1);
    int rc = wait_answer(rs, &p, NULL, NULL, err);
    if (rc < 0) {
        free(p.fbuf);
        return -1;
    }
    if (p.absent) {
        free(p.fbuf);
        return 1;
    }
    *buf = p.fbuf;
    *len = p.flen;
    return 0;
}

int ss_source_remote_subtree(ss_source *s, const char *sub, const ss_walk_opts *wo, int live,
                             ss_source **out, ss_err *err)
{
    *out = NULL;
    rview *base = as_view(s);
    if (!base)
        return ss_seterr(err, SS_EINTERNAL, 0, "not a remote source");
    remote_source *rs = base->rs;
    if (sub && *sub && !ss_path_is_safe(sub))
        return ss_seterr(err, SS_EUSAGE, 0,
                         "source %s: subtree \"%s\" must be relative, without \"..\"",
                         rs->name, sub);
    if (live && !(rs->caps & SS_CAP_EXT))
        return ss_seterr(err, SS_ESOURCE, 0,
                         "source %s: the agent is too old to serve a running server (upgrade "
                         "segsync on the source host)", rs->name);
    char full[SS_NET_PATH_MAX + 1];
    const char *p = wire_path(base, sub, full, err);
    if (sub && *sub && !p)
        return -1;
    rview *v = calloc(1, sizeof *v);
    if (!v || (p && !(v->prefix = strdup(p)))) {
        free(v);
        return ss_seterr(err, SS_EINTERNAL, ENOMEM, "out of memory");
    }
    v->base.ops = &view_ops;
    v->base.name = rs->name;
    v->rs = rs;
    v->live = live;
    if (wo) {
        v->wo = *wo;
        v->has_wo = 1;
    }
    *out = &v->base;
    return 0;
}

/* The agent's challenge, our answer, its proof that it holds the token. */
static int authenticate(remote_source *rs, const ss_auth_token *t, ss_err *err)
{
    ss_auth au;
    ss_msg m, resp;
    ss_err e;
    int r = ss_session_recv(rs->s, &m, &e);
    if (r == 0)
        return ss_seterr(err, SS_ESOURCE, 0,
                         "source %s: authentication failed: the agent closed the connection",
                         rs->name);
    if (r < 0)
        return ss_seterr(err, e.kind, 0, "source %s: authentication failed: %s", rs->name,
                         e.msg);
    if (m.type == SS_MSG_ERROR) {
        ss_seterr(err, SS_EPROTO, 0, "source %s: authentication failed: the agent says: %s",
                  rs->name, m.u.error.text);
        ss_msg_free(&m);
        return -1;
    }
    int rc = ss_auth_client_respond(&au, t, &m, &resp, &e);
    ss_msg_free(&m);
    if (rc == 0 && ss_session_send(rs->s, &resp, &e) < 0)
        rc = -1;
    if (rc == 0) {
        r = ss_session_recv(rs->s, &m, &e);
        if (r == 0)
            rc = ss_seterr(&e, SS_EPROTO, 0, "the agent closed the connection");
        else if (r < 0)
            rc = -1;
        else {
            if (m.type == SS_MSG_ERROR) {
                rc = ss_seterr(&e, SS_EPROTO, 0,
                               "the agent refused the token (both sides need the same "
                               "--token-file)");
            } else {
                rc = ss_auth_client_finish(&au, &m, &e);
            }
            ss_msg_free(&m);
        }
    }
    memset(&au, 0, sizeof au);
    if (rc < 0) {
        const char *t0 = "authentication failed: ";
        const char *msg = strncmp(e.msg, t0, strlen(t0)) == 0 ? e.msg + strlen(t0) : e.msg;
        return ss_seterr(err, SS_EPROTO, 0, "source %s: authentication failed: %s", rs->name,
                         msg);
    }
    return 0;
}

static int handshake(remote_source *rs, const ss_zopt *z, ss_err *err)
{
    ss_msg m;
    memset(&m, 0, sizeof m);
    m.type = SS_MSG_HELLO;
    m.u.hello = (ss_msg_hello){ SS_PROTO_VERSION,
                                (z && z->mode == SS_Z_ZSTD ? SS_CAP_ZSTD : 0) | SS_CAP_EXT |
                                    SS_CAP_KEEPALIVE,
                                8192, 4u << 20 };
    ss_err e;
    if (ss_session_send(rs->s, &m, &e) < 0) {
        char why[128];
        child_status(rs, why, sizeof why);
        return ss_seterr(err, SS_ESOURCE, 0, "source %s: cannot reach the agent: %s%s",
                         rs->name, e.msg, why);
    }
    int r = ss_session_recv(rs->s, &m, &e);
    if (r <= 0) {
        char why[128];
        child_status(rs, why, sizeof why);
        if (r == 0)
            return ss_seterr(err, SS_ESOURCE, 0,
                             "source %s: the agent closed the connection before answering%s",
                             rs->name, why);
        return ss_seterr(err, e.kind, 0, "source %s: %s%s", rs->name, e.msg, why);
    }
    int rc = 0;
    if (m.type == SS_MSG_ERROR)
        rc = ss_seterr(err, m.u.error.kind, 0, "source %s: %s", rs->name, m.u.error.text);
    else if (m.type != SS_MSG_HELLO)
        rc = ss_seterr(err, SS_EPROTO, 0, "source %s: expected HELLO, got %s", rs->name,
                       ss_msg_type_name(m.type));
    else {
        rs->caps = m.u.hello.caps;
        if ((m.u.hello.caps & SS_CAP_ZSTD) && z && z->mode == SS_Z_ZSTD)
            rc = ss_session_compress(rs->s, z, err);
    }
    ss_msg_free(&m);
    return rc;
}

static int open_session(ss_source **out, const char *name, int rfd, int wfd,
                        const ss_remote_opts *o, pid_t child, ss_err *err)
{
    *out = NULL;
    remote_source *rs = calloc(1, sizeof *rs);
    if (!rs || !(rs->name = strdup(name))) {
        free(rs);
        close(rfd);
        if (wfd != rfd)
            close(wfd);
        return ss_seterr(err, SS_EINTERNAL, ENOMEM, "out of memory");
    }
    rs->child = child;
    if (o->subdir && *o->subdir && !(rs->subdir = strdup(o->subdir))) {
        free(rs->name);
        free(rs);
        close(rfd);
        if (wfd != rfd)
            close(wfd);
        return ss_seterr(err, SS_EINTERNAL, ENOMEM, "out of memory");
    }
    rs->v.base.ops = &remote_ops;
    rs->v.base.name = rs->name;
    rs->v.rs = rs;
    rs->v.prefix = rs->subdir;  /* owned by rs, not the view */
    pthread_mutex_init(&rs->mu, NULL);
    pthread_mutex_init(&rs->list_mu, NULL);
    pthread_cond_init(&rs->list_cv, NULL);
    long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
    sem_init(&rs->cpu_gate, 0, ncpu > 0 ? (unsigned)ncpu : 1);
    ss_iostream_opts io = { .idle_timeout_ms = o->idle_timeout_ms, .max_rate = o->max_rate,
                            .own_fds = 1 };
    if (ss_session_open_io(&rs->s, rfd, wfd, &io, err) < 0) {
        close(rfd);
        if (wfd != rfd)
            close(wfd);
        rs->dead = 1;
        remote_destroy(&rs->v.base);
        return -1;
    }
    if (handshake(rs, &o->compress, err) < 0 || (o->token && authenticate(rs, o->token, err) < 0)) {
        rs->dead = 1;
        remote_destroy(&rs->v.base);
        return -1;
    }
    if ((rs->caps & SS_CAP_KEEPALIVE) &&
        ss_keepalive_start(&rs->ka, rs->s, ss_keepalive_interval(o->idle_timeout_ms), err) < 0) {
        rs->dead = 1;
        remote_destroy(&rs->v.base);
        return -1;
    }
    if (pthread_create(&rs->reader, NULL, reader_main, rs) != 0) {
        ss_seterr(err, SS_EINTERNAL, errno, "cannot start the reader thread");
        rs->dead = 1;
        remote_destroy(&rs->v.base);
        return -1;
    }
    rs->reader_started = 1;
    *out = &rs->v.base;
    return 0;
}

int ss_source_remote_open(ss_source **out, const char *name, int rfd, int wfd,
                          const ss_zopt *compress, ss_err *err)
{
    ss_remote_opts o = { .compress = *compress };
    return open_session(out, name, rfd, wfd, &o, 0, err);
}

int ss_source_remote_open_opts(ss_source **out, const char *name, int rfd, int wfd,
                               const ss_remote_opts *o, ss_err *err)
{
    if (o->subdir && *o->subdir && !ss_path_is_safe(o->subdir)) {
        close(rfd);
        if (wfd != rfd)
            close(wfd);
        return ss_seterr(err, SS_EUSAGE, 0,
                         "source %s: directory \"%s\" must be relative to the agent's root, "
                         "without \"..\"", name, o->subdir);
    }
    return open_session(out, name, rfd, wfd, o, 0, err);
}

int ss_source_remote_connect(ss_source **out, const char *host, const char *port,
                             int connect_timeout_ms, const ss_remote_opts *o, ss_err *err)
{
    *out = NULL;
    char name[320];
    snprintf(name, sizeof name, strchr(host, ':') ? "[%s]:%s" : "%s:%s", host, port);
    if (o->subdir && *o->subdir && !ss_path_is_safe(o->subdir))
        return ss_seterr(err, SS_EUSAGE, 0,
                         "source %s: directory \"%s\" must be relative to the agent's root, "
                         "without \"..\"", name, o->subdir);
    int fd;
    if (ss_tcp_connect(host, port, connect_timeout_ms, &fd, err) < 0) {
        ss_err_prefix(err, ": ");
        ss_err_prefix(err, name);
        ss_err_prefix(err, "source ");
        return -1;
    }
    return open_session(out, name, fd, fd, o, 0, err);
}

/* Quote s for the remote shell (ssh hands the command line to one) unless
 * it is made of characters no shell treats specially. */
static char *shell_word(const char *s)
{
    static const char safe[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
                               "0123456789_-./:=,+@%";
    if (*s && strspn(s, safe) == strlen(s))
        return strdup(s);
    size_t n = 3;
    for (const char *p = s; *p; p++)
        n += *p == '\'' ? 4 : 1;
    char *q = malloc(n), *o = q;
    if (!q)
        return NULL;
    *o++ = '\'';
    for (const char *p = s; *p; p++) {
        if (*p == '\'') {
            memcpy(o, "'\\''", 4);
            o += 4;
        } else {
            *o++ = *p;
        }
    }
    *o++ = '\'';
    *o = 0;
    return q;
}

int ss_source_remote_spawn(ss_source **out, const ss_remote_spec *spec, ss_err *err)
{
    *out = NULL;
    const char *rsh = spec->rsh && *spec->rsh ? spec->rsh : "ssh";
    char *rshcopy = strdup(rsh);
    char *rpath = shell_word(spec->remote_path && *spec->remote_path ? spec->remote_path
                                                                      : "segsync");
    char *rdir = shell_word(spec->dir && *spec->dir ? spec->dir : ".");
    char zarg[32];
    if (spec->compress.mode != SS_Z_ZSTD)
        snprintf(zarg, sizeof zarg, "--compress=none");
    else if (spec->compress.adapt)
        snprintf(zarg, sizeof zarg, "--compress=zstd");
    else
        snprintf(zarg, sizeof zarg, "--compress=zstd:%d", spec->compress.level);
    size_t nw = 0;
    for (const char *p = rsh; *p; p++)
        nw++;
    char **argv = calloc(nw + 8, sizeof *argv);
    size_t argc = 0;
    int rc = 0;
    if (!rshcopy || !rpath || !rdir || !argv) {
        rc = ss_seterr(err, SS_EINTERNAL, ENOMEM, "out of memory");
        goto out;
    }
    char *save = NULL;
    for (char *w = strtok_r(rshcopy, " \t", &save); w; w = strtok_r(NULL, " \t", &save))
        argv[argc++] = w;
    if (argc == 0) {
        rc = ss_seterr(err, SS_EUSAGE, 0, "empty --rsh command");
        goto out;
    }
    argv[argc++] = (char *)spec->host;
    argv[argc++] = rpath;
    argv[argc++] = (char *)"serve";
    argv[argc++] = zarg;
    argv[argc++] = (char *)"--";
    argv[argc++] = rdir;
    argv[argc] = NULL;

    int to_child[2], from_child[2];
    if (pipe2(to_child, O_CLOEXEC) < 0) {
        rc = ss_seterr(err, SS_EINTERNAL, errno, "cannot create a pipe");
        goto out;
    }
    if (pipe2(from_child, O_CLOEXEC) < 0) {
        rc = ss_seterr(err, SS_EINTERNAL, errno, "cannot create a pipe");
        close(to_child[0]);
        close(to_child[1]);
        goto out;
    }
    pid_t pid = fork();
    if (pid < 0) {
        rc = ss_seterr(err, SS_EINTERNAL, errno, "cannot start %s", argv[0]);
        close(to_child[0]);
        close(to_child[1]);
        close(from_child[0]);
        close(from_child[1]);
        goto out;
    }
    if (pid == 0) {
        /* The child: plain signal state, the pipes as stdin / stdout. */
        sigset_t none;
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, NULL);
        signal(SIGPIPE, SIG_DFL);
        if (dup2(to_child[0], 0) < 0 || dup2(from_child[1], 1) < 0)
            _exit(127);
        execvp(argv[0], argv);
        _exit(127);
    }
    close(to_child[0]);
    close(from_child[1]);
    char *name = malloc(strlen(spec->host) + 1);
    if (!name) {
        close(to_child[1]);
        close(from_child[0]);
        waitpid(pid, NULL, 0);
        rc = ss_seterr(err, SS_EINTERNAL, ENOMEM, "out of memory");
        goto out;
    }
    strcpy(name, spec->host);
    ss_remote_opts ro = { .compress = spec->compress, .idle_timeout_ms = spec->idle_timeout_ms,
                          .max_rate = spec->max_rate };
    rc = open_session(out, name, from_child[0], to_child[1], &ro, pid, err);
    free(name);
out:
    free(argv);
    free(rshcopy);
    free(rpath);
    free(rdir);
    return rc;
}
