/*
 * msg.h — the messages of the segsync wire protocol, on top of frames.
 *
 * ss_msg_encode appends one whole frame for a message to a write buffer;
 * ss_msg_decode turns one received frame into an ss_msg after checking
 * everything a hostile peer could get wrong: every count and length against
 * the bytes that remain, every path with ss_path_is_safe (relative, no "",
 * "." or ".." component) and a length bound, enum values, field relations
 * (offset + length within the file, signature count bounded by
 * length / block size), no trailing bytes. A failure is SS_EPROTO with a
 * message that names the message type and the field.
 *
 * Ownership of a decoded message: strings, entry and signature arrays are
 * owned by the ss_msg (release with ss_msg_free); RANGE_DATA's payload
 * points into the frame and is valid only as long as the frame is.
 *
 * The fields and their order on the wire are listed in docs/protocol.md.
 */
#ifndef SEGSYNC_NET_MSG_H
#define SEGSYNC_NET_MSG_H

#include <stddef.h>
#include <stdint.h>

#include "engine/blocksig.h"
#include "engine/error.h"
#include "engine/net/buf.h"
#include "engine/net/frame.h"
#include "engine/walk.h"

#define SS_PROTO_MAGIC 0x53475359u   /* "SGSY" */
#define SS_PROTO_VERSION 1u

/* Capabilities announced in HELLO; the session uses the intersection. */
#define SS_CAP_ZSTD 0x1u             /* zstd streams after the HELLO exchange */
/* PING / PONG: either side may send PING after a spell of silence; the
 * other answers PONG. Only sent to a peer that announced it. */
#define SS_CAP_KEEPALIVE 0x2u
/* FILE_REQ / FILE_DATA, RANGE_REQ's live flag and RANGE_GONE, type-3
 * ("other") entries in listings, the root's attributes in LIST_END and
 * tablespace links of a data directory. */
#define SS_CAP_EXT 0x4u
#define SS_CAP_KNOWN 0x7u

#define SS_NET_PATH_MAX 4095         /* bytes of a path or symlink target */
#define SS_NET_TEXT_MAX 1023         /* bytes of an ERROR text */
#define SS_NET_MIN_BLOCK 512u
#define SS_NET_MAX_BLOCK (1u << 20)
#define SS_NET_MAX_CHUNK (16u << 20) /* largest RANGE_REQ length / RANGE_DATA payload */
#define SS_AUTH_NONCE 32
#define SS_AUTH_MAC 32

typedef enum {
    SS_MSG_HELLO = 1,
    SS_MSG_AUTH_CHALLENGE = 2,
    SS_MSG_AUTH_RESPONSE = 3,
    SS_MSG_AUTH_OK = 4,
    SS_MSG_LIST_REQ = 5,
    SS_MSG_LIST_ENTRY = 6,
    SS_MSG_LIST_END = 7,
    SS_MSG_RANGE_REQ = 8,
    SS_MSG_RANGE_DATA = 9,
    SS_MSG_RANGE_END = 10,
    SS_MSG_ERROR = 11,
    SS_MSG_END = 12,
    SS_MSG_RANGE_GONE = 13,
    SS_MSG_FILE_REQ = 14,
    SS_MSG_FILE_DATA = 15,
    SS_MSG_PING = 16,
    SS_MSG_PONG = 17,
} ss_msg_type;

/* Checksum of a RANGE_DATA payload (its plain bytes). */
typedef enum { SS_HASH_XXH3_64 = 1, SS_HASH_XXH3_128 = 2 } ss_hash_kind;

typedef struct {
    uint32_t version;       /* decode refuses anything but SS_PROTO_VERSION */
    uint32_t caps;          /* SS_CAP_* (unknown bits are kept, not refused) */
    uint32_t block_size;    /* SS_NET_MIN_BLOCK .. SS_NET_MAX_BLOCK */
    uint32_t chunk_size;    /* multiple of block_size, <= SS_NET_MAX_CHUNK */
} ss_msg_hello;

typedef struct {
    uint8_t nonce[SS_AUTH_NONCE];
} ss_msg_auth_challenge;

typedef struct {
    uint8_t nonce[SS_AUTH_NONCE];   /* the client's */
    uint8_t mac[SS_AUTH_MAC];       /* proves the client holds the token */
} ss_msg_auth_response;

typedef struct {
    uint8_t mac[SS_AUTH_MAC];       /* proves the server holds the token */
} ss_msg_auth_ok;

typedef struct {
    char *path;             /* root-relative subtree; NULL/"" = the whole root */
} ss_msg_list_req;

typedef struct {
    ss_entry *v;            /* path/link point into `strings` */
    size_t n;
    char *strings;          /* owned: backing store of the entries' strings */
} ss_msg_list_entry;

/* LIST_END: the listed directory's own attributes, when the agent sends
 * them (SS_CAP_EXT); an empty LIST_END has has_root 0. */
typedef struct {
    int has_root;
    uint32_t mode;          /* permission bits, <= 07777 */
    uint32_t uid, gid;
    int64_t mtime_sec;
    long mtime_nsec;
} ss_msg_list_end;

typedef struct {
    uint64_t id;
    char *path;
    uint64_t file_size;
    uint64_t off;
    uint64_t len;           /* 1 .. SS_NET_MAX_CHUNK */
    uint32_t block_size;
    int last;
    int compare;
    /* The source is a live server (SS_CAP_EXT): a missing file is answered
     * RANGE_GONE, a short one padded with zeros, the size not checked. */
    int live;
    ss_sig *sigs;           /* the target's, <= ceil(len / block_size) */
    size_t nsigs;
} ss_msg_range_req;

typedef struct {
    uint64_t id;
    uint64_t off;
    uint32_t len;           /* plain bytes in data */
    ss_hash_kind hash_kind;
    ss_sig hash;            /* XXH3-64 in .lo (.hi 0) or XXH3-128 */
    const void *data;       /* decode: points into the frame */
} ss_msg_range_data;

typedef struct {
    uint64_t id;
} ss_msg_range_end;         /* also RANGE_GONE */

/* A whole regular file, at most max bytes. */
typedef struct {
    uint64_t id;
    char *path;
    uint32_t max;           /* <= SS_NET_MAX_CHUNK */
} ss_msg_file_req;

/* The answer to FILE_REQ (errors are ERROR with the request's id). */
typedef struct {
    uint64_t id;
    int absent;             /* the file does not exist; len 0 */
    uint32_t len;           /* bytes in data, <= SS_NET_MAX_CHUNK */
    ss_sig hash;            /* XXH3-128 of data, computed by the encoder */
    const void *data;       /* decode: points into the frame */
} ss_msg_file_data;

/* ERROR id answering the outstanding LIST_REQ (SS_CAP_EXT): that listing
 * failed, the session goes on. */
#define SS_MSG_ID_LIST UINT64_MAX

typedef struct {
    uint64_t id;            /* request it answers, 0 = the whole session */
    ss_errkind kind;
    char text[SS_NET_TEXT_MAX + 1]; /* control characters replaced by '?' */
} ss_msg_error;

typedef struct {
    ss_msg_type type;
    union {
        ss_msg_hello hello;
        ss_msg_auth_challenge challenge;
        ss_msg_auth_response response;
        ss_msg_auth_ok auth_ok;
        ss_msg_list_req list_req;
        ss_msg_list_entry list;
        ss_msg_range_req range_req;
        ss_msg_range_data range_data;
        ss_msg_range_end range_end;
        ss_msg_list_end list_end;
        ss_msg_file_req file_req;
        ss_msg_file_data file_data;
        ss_msg_error error;
    } u;
} ss_msg;

/* "HELLO", "RANGE_DATA", ...; "unknown" for anything else. */
const char *ss_msg_type_name(unsigned type);

/* Append m as one frame. Encoding checks the same rules decoding does (a
 * message the peer would refuse is never sent): -1 with SS_EINTERNAL.
 * LIST_ENTRY is encoded with ss_msg_encode_list; RANGE_DATA's hash is
 * computed here from data (hash_kind chooses which). */
int ss_msg_encode(ss_wbuf *w, const ss_msg *m, ss_err *err);
/* The same frame without its trailing data bytes: appends everything up to
 * them (the header's length counts them) and points *tail at the *tail_len
 * bytes the caller sends right after (RANGE_DATA's and FILE_DATA's data;
 * none for other types). Saves copying megabytes into the write buffer. */
int ss_msg_encode_head(ss_wbuf *w, const ss_msg *m, const void **tail, size_t *tail_len,
                       ss_err *err);

/* Append one LIST_ENTRY frame holding as many of e[0..n) as fit in
 * max_payload bytes (0 = 64 KiB), at least one. *taken = entries encoded. */
int ss_msg_encode_list(ss_wbuf *w, const ss_entry *e, size_t n, size_t max_payload,
                       size_t *taken, ss_err *err);

/* Decode one frame. On failure m needs no ss_msg_free. */
int ss_msg_decode(const ss_frame *f, ss_msg *m, ss_err *err);
void ss_msg_free(ss_msg *m);

/* Fill an ERROR message (text truncated to SS_NET_TEXT_MAX). */
void ss_msg_error_set(ss_msg *m, uint64_t id, const ss_err *e);

/* Recompute a decoded RANGE_DATA payload's hash: -1 (SS_EPROTO) on mismatch. */
int ss_msg_range_data_verify(const ss_msg_range_data *d, ss_err *err);
/* The same for FILE_DATA. */
int ss_msg_file_data_verify(const ss_msg_file_data *d, ss_err *err);

#endif
