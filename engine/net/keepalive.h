/*
 * keepalive.h — PING when the peer has been silent, PONG when asked.
 *
 * Both ends of a session that negotiated SS_CAP_KEEPALIVE run one: a small
 * thread that sends PING whenever nothing has been received for an
 * interval (and again every interval while the silence lasts), and
 * PONG when the receiving thread saw a PING (ss_keepalive_pong, which never
 * blocks: a receiver that had to write could deadlock against a peer that
 * is itself blocked writing to us). So a live peer is never silent for
 * much longer than one interval plus a round trip, and an idle timeout can
 * count silence only: it fires when the peer (or the link) is gone, not
 * when the peer is merely busy or waiting.
 *
 * Sending goes through ss_session_send (its writer lock); a failed send is
 * ignored here — the receiving side sees the broken stream and reports it.
 */
#ifndef SEGSYNC_NET_KEEPALIVE_H
#define SEGSYNC_NET_KEEPALIVE_H

#include "engine/error.h"
#include "engine/net/session.h"

typedef struct ss_keepalive ss_keepalive;

/* The interval for an idle timeout of timeout_ms (0 = none): a quarter of
 * it, between 100 ms and 2 s; 1 s without a timeout (the peer may have a
 * short one). Silence is noticed at the first tick after a whole interval
 * of it, so a PING goes out between one and two intervals into it. */
int ss_keepalive_interval(int timeout_ms);

/* Start the thread on s (which must outlive it). */
int ss_keepalive_start(ss_keepalive **out, ss_session *s, int interval_ms, ss_err *err);

/* Ask for a PONG (a PING was received). Safe from any thread, also after
 * ss_keepalive_stop (then nothing is sent). */
void ss_keepalive_pong(ss_keepalive *k);

/* Stop sending and join the thread (before the session ends its stream). */
void ss_keepalive_stop(ss_keepalive *k);
/* Free (after stop, once no thread calls ss_keepalive_pong any more). */
void ss_keepalive_free(ss_keepalive *k);

/* PINGs and PONGs sent so far (for tests). */
unsigned long ss_keepalive_pings(const ss_keepalive *k);

#endif
