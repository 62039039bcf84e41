/*
 * frame.h — length-prefixed frames, the unit of the wire protocol.
 *
 * A frame is a 6-byte header followed by a payload:
 *
 *     u32  payload length (big-endian), at most SS_FRAME_MAX_PAYLOAD
 *     u8   message type (engine/net/msg.h)
 *     u8   flags, 0 in protocol version 1 (anything else is refused)
 *
 * The decoder accepts bytes in pieces of any size and says, for each piece,
 * how much it used and whether a whole frame is ready. A length above the
 * decoder's maximum is a protocol error the moment the header is complete:
 * nothing is allocated for it. The payload buffer grows with the bytes that
 * actually arrive, so a peer that claims 16 MiB and sends 10 bytes costs 10
 * bytes. At end of input, ss_frame_dec_eof tells a clean boundary from a
 * truncated frame.
 */
#ifndef SEGSYNC_NET_FRAME_H
#define SEGSYNC_NET_FRAME_H

#include <stddef.h>
#include <stdint.h>

#include "engine/error.h"
#include "engine/net/buf.h"

#define SS_FRAME_HDR 6
/* Room for a 16 MiB chunk of file data plus its message fields. */
#define SS_FRAME_MAX_PAYLOAD ((16u << 20) + 4096u)

typedef struct {
    uint8_t type;
    uint8_t flags;
    uint32_t len;
    const uint8_t *payload; /* owned by the decoder: valid until its next call */
} ss_frame;

typedef struct {
    uint8_t hdr[SS_FRAME_HDR];
    size_t hdr_have;
    uint8_t *buf;           /* payload being assembled */
    size_t cap, have;
    uint32_t len;           /* payload length from the header */
    uint32_t max;           /* largest payload accepted */
    int ready;              /* a frame was handed out; drop it on the next feed */
    int failed;             /* a protocol error was returned; stays failed */
} ss_frame_dec;

/* max 0 means SS_FRAME_MAX_PAYLOAD; larger values are clamped to it. */
void ss_frame_dec_init(ss_frame_dec *d, uint32_t max);
void ss_frame_dec_free(ss_frame_dec *d);

/* Consume bytes from data[0..len). Stops right after a frame completes.
 * Returns 1 with *out filled when a frame is complete, 0 when every byte
 * was used and more are needed, -1 on a protocol error (SS_EPROTO).
 * *used tells how many bytes were taken; feed the rest again. A frame is
 * valid until the next call on d. */
int ss_frame_dec_feed(ss_frame_dec *d, const void *data, size_t len, size_t *used,
                      ss_frame *out, ss_err *err);

/* The input has ended: 0 at a frame boundary, -1 (SS_EPROTO, "truncated
 * frame ...") when a frame was started and not finished. */
int ss_frame_dec_eof(const ss_frame_dec *d, ss_err *err);

/* Append a frame header whose length is patched later: returns the offset
 * to hand to ss_frame_end. */
size_t ss_frame_begin(ss_wbuf *w, uint8_t type);
/* Patch the length of the frame begun at `at`; -1 (SS_EINTERNAL) when the
 * buffer failed or the payload is larger than SS_FRAME_MAX_PAYLOAD. */
int ss_frame_end(ss_wbuf *w, size_t at, ss_err *err);
/* The same, for a frame whose last tail bytes are not in w: the caller
 * writes them to the stream right after w's bytes. */
int ss_frame_end_tail(ss_wbuf *w, size_t at, size_t tail, ss_err *err);
/* Append a whole frame. */
int ss_frame_put(ss_wbuf *w, uint8_t type, const void *payload, size_t len, ss_err *err);

#endif
