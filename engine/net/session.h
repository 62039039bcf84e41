/*
 * session.h — a message stream to the peer: frames, over an optional zstd
 * stream, over an ss_iostream. Shared by the agent and the remote source.
 *
 * One thread receives (ss_session_recv); any number of threads send
 * (ss_session_send*), serialized by the session's writer lock. Each sent
 * message is flushed at once (ZSTD_e_flush), so the peer can act on it.
 *
 * The HELLO exchange runs uncompressed; when both HELLOs carry SS_CAP_ZSTD
 * both sides call ss_session_compress and every later byte in each
 * direction is part of a zstd stream. Bytes already received past the
 * HELLO are kept and decompressed first.
 */
#ifndef SEGSYNC_NET_SESSION_H
#define SEGSYNC_NET_SESSION_H

#include <stddef.h>
#include <stdint.h>

#include "engine/error.h"
#include "engine/net/iostream.h"
#include "engine/net/msg.h"
#include "engine/net/zstream.h"
#include "engine/walk.h"

typedef struct ss_session ss_session;

/* A session over rfd / wfd (may be equal). own_fds: close them at the end. */
int ss_session_open(ss_session **out, int rfd, int wfd, int own_fds, ss_err *err);
/* The same with the byte stream's options (idle timeout, rate limit). An
 * idle timeout fails ss_session_recv with sys_errno ETIMEDOUT and loses
 * nothing: the receiver may call it again. */
int ss_session_open_io(ss_session **out, int rfd, int wfd, const ss_iostream_opts *io,
                       ss_err *err);

/* Switch both directions to zstd (after the HELLOs). zo: the level (and
 * whether it adapts) for sending. */
int ss_session_compress(ss_session *s, const ss_zopt *zo, ss_err *err);

/* Send one message (or one LIST_ENTRY batch of e[0..n), *taken entries). */
int ss_session_send(ss_session *s, const ss_msg *m, ss_err *err);
/* The same without the flush: the message may wait in the compressor
 * until this thread (or any other) sends the next flushed message. For a
 * burst of messages that ends with a flushed one (RANGE_DATA runs, then
 * RANGE_END): one write and one wake-up of the peer instead of one each. */
int ss_session_send_more(ss_session *s, const ss_msg *m, ss_err *err);
/* Push out whatever ss_session_send_more left in the compressor. */
int ss_session_flush(ss_session *s, ss_err *err);
int ss_session_send_list(ss_session *s, const ss_entry *e, size_t n, size_t *taken,
                         ss_err *err);

/* Receive one message: 1 (m filled; ss_msg_free it; RANGE_DATA's data is
 * valid until the next call), 0 clean end of stream, -1 error. */
int ss_session_recv(ss_session *s, ss_msg *m, ss_err *err);

/* End the zstd frame and close the writing side (the peer sees the end). */
int ss_session_close_write(ss_session *s, ss_err *err);

uint64_t ss_session_bytes_in(const ss_session *s);
uint64_t ss_session_bytes_out(const ss_session *s);
void ss_session_close(ss_session *s);

#endif
