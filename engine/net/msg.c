#include "engine/net/msg.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "engine/pathsafe.h"

/* Smallest encoding of one LIST_ENTRY record: type, mode, uid, gid, size,
 * mtime sec, mtime nsec and two empty strings. Bounds the count. */
#define ENTRY_MIN_WIRE (1 + 4 + 4 + 4 + 8 + 8 + 4 + 2 + 2)
#define SIG_WIRE 16
#define LIST_BATCH_DEFAULT (64u << 10)

#define RANGE_F_LAST 0x1u
#define RANGE_F_COMPARE 0x2u
#define RANGE_F_LIVE 0x4u
#define FILE_ABSENT 1u

static const char *const type_names[] = {
    [SS_MSG_HELLO] = "HELLO",
    [SS_MSG_AUTH_CHALLENGE] = "AUTH_CHALLENGE",
    [SS_MSG_AUTH_RESPONSE] = "AUTH_RESPONSE",
    [SS_MSG_AUTH_OK] = "AUTH_OK",
    [SS_MSG_LIST_REQ] = "LIST_REQ",
    [SS_MSG_LIST_ENTRY] = "LIST_ENTRY",
    [SS_MSG_LIST_END] = "LIST_END",
    [SS_MSG_RANGE_REQ] = "RANGE_REQ",
    [SS_MSG_RANGE_DATA] = "RANGE_DATA",
    [SS_MSG_RANGE_END] = "RANGE_END",
    [SS_MSG_ERROR] = "ERROR",
    [SS_MSG_END] = "END",
    [SS_MSG_RANGE_GONE] = "RANGE_GONE",
    [SS_MSG_FILE_REQ] = "FILE_REQ",
    [SS_MSG_FILE_DATA] = "FILE_DATA",
    [SS_MSG_PING] = "PING",
    [SS_MSG_PONG] = "PONG",
};

const char *ss_msg_type_name(unsigned type)
{
    if (type < sizeof type_names / sizeof type_names[0] && type_names[type])
        return type_names[type];
    return "unknown";
}

static int path_ok(const char *p, size_t n)
{
    return n > 0 && n <= SS_NET_PATH_MAX && memchr(p, 0, n) == NULL && ss_path_is_safe(p);
}

/* ---- rules shared by encode and decode -------------------------------- */

static int check_hello(const ss_msg_hello *h, ss_errkind kind, ss_err *err)
{
    if (h->version != SS_PROTO_VERSION)
        return ss_seterr(err, kind, 0,
                         "peer speaks segsync protocol version %u, this segsync speaks %u",
                         h->version, SS_PROTO_VERSION);
    if (h->block_size < SS_NET_MIN_BLOCK || h->block_size > SS_NET_MAX_BLOCK)
        return ss_seterr(err, kind, 0, "HELLO: block size %u outside %u..%u", h->block_size,
                         SS_NET_MIN_BLOCK, SS_NET_MAX_BLOCK);
    if (h->chunk_size < h->block_size || h->chunk_size > SS_NET_MAX_CHUNK ||
        h->chunk_size % h->block_size)
        return ss_seterr(err, kind, 0,
                         "HELLO: chunk size %u is not a multiple of the block size %u "
                         "up to %u",
                         h->chunk_size, h->block_size, SS_NET_MAX_CHUNK);
    return 0;
}

static int check_range_req(const ss_msg_range_req *q, ss_errkind kind, ss_err *err)
{
    if (!q->path || !path_ok(q->path, strlen(q->path)))
        return ss_seterr(err, kind, 0, "RANGE_REQ: unsafe or empty path");
    if (q->block_size < SS_NET_MIN_BLOCK || q->block_size > SS_NET_MAX_BLOCK)
        return ss_seterr(err, kind, 0, "RANGE_REQ %s: block size %u outside %u..%u", q->path,
                         q->block_size, SS_NET_MIN_BLOCK, SS_NET_MAX_BLOCK);
    if (q->len > SS_NET_MAX_CHUNK)
        return ss_seterr(err, kind, 0, "RANGE_REQ %s: length %llu above the limit %u",
                         q->path, (unsigned long long)q->len, SS_NET_MAX_CHUNK);
    if (q->off % q->block_size)
        return ss_seterr(err, kind, 0, "RANGE_REQ %s: offset %llu not a multiple of %u",
                         q->path, (unsigned long long)q->off, q->block_size);
    if (q->off > q->file_size || q->len > q->file_size - q->off)
        return ss_seterr(err, kind, 0, "RANGE_REQ %s: range %llu+%llu past file size %llu",
                         q->path, (unsigned long long)q->off, (unsigned long long)q->len,
                         (unsigned long long)q->file_size);
    if (q->last && q->off + q->len != q->file_size)
        return ss_seterr(err, kind, 0, "RANGE_REQ %s: last range ends at %llu, not at %llu",
                         q->path, (unsigned long long)(q->off + q->len),
                         (unsigned long long)q->file_size);
    if (q->nsigs > ss_nblocks(q->len, q->block_size) || (q->nsigs && !q->sigs))
        return ss_seterr(err, kind, 0, "RANGE_REQ %s: %zu signatures for %zu blocks", q->path,
                         q->nsigs, ss_nblocks(q->len, q->block_size));
    return 0;
}

static int check_range_data(const ss_msg_range_data *d, ss_errkind kind, ss_err *err)
{
    if (d->len > SS_NET_MAX_CHUNK)
        return ss_seterr(err, kind, 0, "RANGE_DATA: length %u above the limit %u", d->len,
                         SS_NET_MAX_CHUNK);
    if (d->hash_kind != SS_HASH_XXH3_64 && d->hash_kind != SS_HASH_XXH3_128)
        return ss_seterr(err, kind, 0, "RANGE_DATA: unknown hash kind %d", (int)d->hash_kind);
    if (d->len && !d->data)
        return ss_seterr(err, kind, 0, "RANGE_DATA: no data");
    return 0;
}

static int check_file_req(const ss_msg_file_req *q, ss_errkind kind, ss_err *err)
{
    if (!q->path || !path_ok(q->path, strlen(q->path)))
        return ss_seterr(err, kind, 0, "FILE_REQ: unsafe or empty path");
    if (q->max > SS_NET_MAX_CHUNK)
        return ss_seterr(err, kind, 0, "FILE_REQ %s: limit %u above %u", q->path, q->max,
                         SS_NET_MAX_CHUNK);
    return 0;
}

static int check_file_data(const ss_msg_file_data *d, ss_errkind kind, ss_err *err)
{
    if (d->len > SS_NET_MAX_CHUNK)
        return ss_seterr(err, kind, 0, "FILE_DATA: length %u above the limit %u", d->len,
                         SS_NET_MAX_CHUNK);
    if (d->absent && d->len)
        return ss_seterr(err, kind, 0, "FILE_DATA: data for an absent file");
    if (d->len && !d->data)
        return ss_seterr(err, kind, 0, "FILE_DATA: no data");
    return 0;
}

static int check_list_end(const ss_msg_list_end *l, ss_errkind kind, ss_err *err)
{
    if (l->has_root && (l->mode > 07777 || l->mtime_nsec < 0 || l->mtime_nsec > 999999999))
        return ss_seterr(err, kind, 0, "LIST_END: bad root mode or mtime");
    return 0;
}

static void hash_data(ss_hash_kind k, const void *p, size_t n, ss_sig *out)
{
    if (k == SS_HASH_XXH3_64) {
        out->lo = XXH3_64bits(p, n);
        out->hi = 0;
    } else {
        XXH128_hash_t h = XXH3_128bits(p, n);
        out->lo = h.low64;
        out->hi = h.high64;
    }
}

/* ---- encode ------------------------------------------------------------ */

static int put_entry(ss_wbuf *w, const ss_entry *e, ss_err *err)
{
    size_t plen = e->path ? strlen(e->path) : 0;
    size_t llen = e->link ? strlen(e->link) : 0;
    if (!path_ok(e->path ? e->path : "", plen))
        return ss_seterr(err, SS_EINTERNAL, 0, "LIST_ENTRY: unsafe path \"%s\"",
                         e->path ? e->path : "");
    if ((unsigned)e->type > SS_FT_OTHER || e->mode > 07777)
        return ss_seterr(err, SS_EINTERNAL, 0, "LIST_ENTRY %s: bad type or mode", e->path);
    if ((e->type == SS_FT_LNK) != (llen > 0) || llen > SS_NET_PATH_MAX)
        return ss_seterr(err, SS_EINTERNAL, 0, "LIST_ENTRY %s: bad symlink target", e->path);
    if (e->mtime_nsec < 0 || e->mtime_nsec > 999999999)
        return ss_seterr(err, SS_EINTERNAL, 0, "LIST_ENTRY %s: bad mtime", e->path);
    ss_wbuf_u8(w, (uint8_t)e->type);
    ss_wbuf_u32(w, e->mode);
    ss_wbuf_u32(w, e->uid);
    ss_wbuf_u32(w, e->gid);
    ss_wbuf_u64(w, e->size);
    ss_wbuf_u64(w, (uint64_t)e->mtime_sec);
    ss_wbuf_u32(w, (uint32_t)e->mtime_nsec);
    ss_wbuf_str(w, e->path);
    ss_wbuf_str(w, e->link);
    return 0;
}

static size_t entry_wire_size(const ss_entry *e)
{
    return ENTRY_MIN_WIRE + (e->path ? strlen(e->path) : 0) + (e->link ? strlen(e->link) : 0);
}

int ss_msg_encode_list(ss_wbuf *w, const ss_entry *e, size_t n, size_t max_payload,
                       size_t *taken, ss_err *err)
{
    *taken = 0;
    if (max_payload == 0)
        max_payload = LIST_BATCH_DEFAULT;
    if (max_payload > SS_FRAME_MAX_PAYLOAD)
        max_payload = SS_FRAME_MAX_PAYLOAD;
    size_t at = ss_frame_begin(w, SS_MSG_LIST_ENTRY);
    size_t count_at = w->len;
    ss_wbuf_u32(w, 0);
    size_t used = 4, k = 0;
    while (k < n && k < UINT32_MAX) {
        size_t sz = entry_wire_size(&e[k]);
        if (k > 0 && used + sz > max_payload)
            break;
        if (put_entry(w, &e[k], err) < 0) {
            w->len = at;
            return -1;
        }
        used += sz;
        k++;
    }
    ss_wbuf_patch_u32(w, count_at, (uint32_t)k);
    if (ss_frame_end(w, at, err) < 0) {
        w->len = at < w->len ? at : w->len;
        return -1;
    }
    *taken = k;
    return 0;
}

int ss_msg_encode(ss_wbuf *w, const ss_msg *m, ss_err *err)
{
    const void *tail;
    size_t tail_len;
    if (ss_msg_encode_head(w, m, &tail, &tail_len, err) < 0)
        return -1;
    if (tail_len)
        ss_wbuf_bytes(w, tail, tail_len);
    if (w->bad)
        return ss_seterr(err, SS_EINTERNAL, 0,
                         "cannot encode message: out of memory or over the size limit");
    return 0;
}

int ss_msg_encode_head(ss_wbuf *w, const ss_msg *m, const void **tail, size_t *tail_len,
                       ss_err *err)
{
    size_t start = w->len;
    size_t at;
    *tail = NULL;
    *tail_len = 0;
    switch (m->type) {
    case SS_MSG_HELLO: {
        const ss_msg_hello *h = &m->u.hello;
        if (check_hello(h, SS_EINTERNAL, err) < 0)
            return -1;
        at = ss_frame_begin(w, SS_MSG_HELLO);
        ss_wbuf_u32(w, SS_PROTO_MAGIC);
        ss_wbuf_u16(w, (uint16_t)h->version);
        ss_wbuf_u32(w, h->caps);
        ss_wbuf_u32(w, h->block_size);
        ss_wbuf_u32(w, h->chunk_size);
        break;
    }
    case SS_MSG_AUTH_CHALLENGE:
        at = ss_frame_begin(w, m->type);
        ss_wbuf_bytes(w, m->u.challenge.nonce, SS_AUTH_NONCE);
        break;
    case SS_MSG_AUTH_RESPONSE:
        at = ss_frame_begin(w, m->type);
        ss_wbuf_bytes(w, m->u.response.nonce, SS_AUTH_NONCE);
        ss_wbuf_bytes(w, m->u.response.mac, SS_AUTH_MAC);
        break;
    case SS_MSG_AUTH_OK:
        at = ss_frame_begin(w, m->type);
        ss_wbuf_bytes(w, m->u.auth_ok.mac, SS_AUTH_MAC);
        break;
    case SS_MSG_LIST_REQ: {
        const char *p = m->u.list_req.path;
        if (p && *p && !path_ok(p, strlen(p)))
            return ss_seterr(err, SS_EINTERNAL, 0, "LIST_REQ: unsafe path \"%s\"", p);
        at = ss_frame_begin(w, m->type);
        ss_wbuf_str(w, p);
        break;
    }
    case SS_MSG_LIST_ENTRY: {
        size_t taken;
        if (ss_msg_encode_list(w, m->u.list.v, m->u.list.n, SS_FRAME_MAX_PAYLOAD, &taken,
                               err) < 0)
            return -1;
        if (taken < m->u.list.n) {
            w->len = start;
            return ss_seterr(err, SS_EINTERNAL, 0,
                             "LIST_ENTRY: %zu entries do not fit in one frame",
                             m->u.list.n);
        }
        return 0;
    }
    case SS_MSG_RANGE_REQ: {
        const ss_msg_range_req *q = &m->u.range_req;
        if (check_range_req(q, SS_EINTERNAL, err) < 0)
            return -1;
        at = ss_frame_begin(w, m->type);
        ss_wbuf_u64(w, q->id);
        ss_wbuf_str(w, q->path);
        ss_wbuf_u64(w, q->file_size);
        ss_wbuf_u64(w, q->off);
        ss_wbuf_u64(w, q->len);
        ss_wbuf_u32(w, q->block_size);
        ss_wbuf_u8(w, (uint8_t)((q->last ? RANGE_F_LAST : 0) |
                                (q->compare ? RANGE_F_COMPARE : 0) |
                                (q->live ? RANGE_F_LIVE : 0)));
        ss_wbuf_u32(w, (uint32_t)q->nsigs);
        ss_wbuf_reserve(w, q->nsigs * SIG_WIRE);
        for (size_t i = 0; i < q->nsigs; i++) {
            ss_wbuf_u64(w, q->sigs[i].lo);
            ss_wbuf_u64(w, q->sigs[i].hi);
        }
        break;
    }
    case SS_MSG_RANGE_DATA: {
        const ss_msg_range_data *d = &m->u.range_data;
        if (check_range_data(d, SS_EINTERNAL, err) < 0)
            return -1;
        ss_sig h;
        hash_data(d->hash_kind, d->data, d->len, &h);
        at = ss_frame_begin(w, m->type);
        ss_wbuf_u64(w, d->id);
        ss_wbuf_u64(w, d->off);
        ss_wbuf_u32(w, d->len);
        ss_wbuf_u8(w, (uint8_t)d->hash_kind);
        ss_wbuf_u64(w, h.lo);
        ss_wbuf_u64(w, h.hi);
        *tail = d->data;
        *tail_len = d->len;
        break;
    }
    case SS_MSG_RANGE_END:
    case SS_MSG_RANGE_GONE:
        at = ss_frame_begin(w, m->type);
        ss_wbuf_u64(w, m->u.range_end.id);
        break;
    case SS_MSG_FILE_REQ: {
        const ss_msg_file_req *q = &m->u.file_req;
        if (check_file_req(q, SS_EINTERNAL, err) < 0)
            return -1;
        at = ss_frame_begin(w, m->type);
        ss_wbuf_u64(w, q->id);
        ss_wbuf_str(w, q->path);
        ss_wbuf_u32(w, q->max);
        break;
    }
    case SS_MSG_FILE_DATA: {
        const ss_msg_file_data *d = &m->u.file_data;
        if (check_file_data(d, SS_EINTERNAL, err) < 0)
            return -1;
        ss_sig h = { 0, 0 };
        if (!d->absent)
            hash_data(SS_HASH_XXH3_128, d->data, d->len, &h);
        at = ss_frame_begin(w, m->type);
        ss_wbuf_u64(w, d->id);
        ss_wbuf_u8(w, d->absent ? FILE_ABSENT : 0);
        ss_wbuf_u32(w, d->len);
        ss_wbuf_u64(w, h.lo);
        ss_wbuf_u64(w, h.hi);
        *tail = d->data;
        *tail_len = d->absent ? 0 : d->len;
        break;
    }
    case SS_MSG_LIST_END: {
        const ss_msg_list_end *l = &m->u.list_end;
        if (check_list_end(l, SS_EINTERNAL, err) < 0)
            return -1;
        at = ss_frame_begin(w, m->type);
        if (l->has_root) {
            ss_wbuf_u32(w, l->mode);
            ss_wbuf_u32(w, l->uid);
            ss_wbuf_u32(w, l->gid);
            ss_wbuf_u64(w, (uint64_t)l->mtime_sec);
            ss_wbuf_u32(w, (uint32_t)l->mtime_nsec);
        }
        break;
    }
    case SS_MSG_ERROR: {
        const ss_msg_error *e = &m->u.error;
        size_t n = strnlen(e->text, sizeof e->text);
        if ((unsigned)e->kind == SS_OK || (unsigned)e->kind > SS_EINTERNAL ||
            n > SS_NET_TEXT_MAX)
            return ss_seterr(err, SS_EINTERNAL, 0, "ERROR: bad kind or text");
        at = ss_frame_begin(w, m->type);
        ss_wbuf_u64(w, e->id);
        ss_wbuf_u8(w, (uint8_t)e->kind);
        ss_wbuf_u16(w, (uint16_t)n);
        ss_wbuf_bytes(w, e->text, n);
        break;
    }
    case SS_MSG_END:
    case SS_MSG_PING:
    case SS_MSG_PONG:
        at = ss_frame_begin(w, m->type);
        break;
    default:
        return ss_seterr(err, SS_EINTERNAL, 0, "cannot encode message type %d", (int)m->type);
    }
    if (ss_frame_end_tail(w, at, *tail_len, err) < 0) {
        if (w->len > start)
            w->len = start;
        *tail = NULL;
        *tail_len = 0;
        return -1;
    }
    return 0;
}

/* ---- decode ------------------------------------------------------------ */

static int short_msg(ss_err *err, unsigned type, const char *field)
{
    return ss_seterr(err, SS_EPROTO, 0, "%s message too short (reading %s)",
                     ss_msg_type_name(type), field);
}

static char *dup_str(const char *s, size_t n, ss_err *err)
{
    char *d = malloc(n + 1);
    if (!d) {
        ss_seterr(err, SS_EINTERNAL, ENOMEM, "cannot decode message");
        return NULL;
    }
    memcpy(d, s, n);
    d[n] = 0;
    return d;
}

static int decode_list(ss_rbuf *r, ss_msg_list_entry *l, ss_err *err)
{
    uint32_t count;
    if (ss_rbuf_u32(r, &count) < 0)
        return short_msg(err, SS_MSG_LIST_ENTRY, "count");
    if (count > ss_rbuf_left(r) / ENTRY_MIN_WIRE)
        return ss_seterr(err, SS_EPROTO, 0,
                         "LIST_ENTRY claims %u entries in %zu bytes", count, ss_rbuf_left(r));
    /* Each string has a 2-byte count on the wire and one NUL here, so the
     * strings always fit in as many bytes as remain. */
    l->v = calloc(count ? count : 1, sizeof *l->v);
    l->strings = malloc(ss_rbuf_left(r) + 1);
    if (!l->v || !l->strings) {
        free(l->v);
        free(l->strings);
        l->v = NULL;
        l->strings = NULL;
        return ss_seterr(err, SS_EINTERNAL, ENOMEM, "cannot decode LIST_ENTRY");
    }
    char *arena = l->strings;
    for (uint32_t i = 0; i < count; i++) {
        ss_entry *e = &l->v[i];
        uint8_t type;
        uint32_t mode, nsec;
        uint64_t mtime;
        const char *p, *k;
        size_t pn, kn;
        ss_rbuf_u8(r, &type);
        ss_rbuf_u32(r, &mode);
        ss_rbuf_u32(r, &e->uid);
        ss_rbuf_u32(r, &e->gid);
        ss_rbuf_u64(r, &e->size);
        ss_rbuf_u64(r, &mtime);
        ss_rbuf_u32(r, &nsec);
        if (r->bad)
            return short_msg(err, SS_MSG_LIST_ENTRY, "entry");
        if (ss_rbuf_str(r, SS_NET_PATH_MAX, &p, &pn) < 0 ||
            ss_rbuf_str(r, SS_NET_PATH_MAX, &k, &kn) < 0)
            return ss_seterr(err, SS_EPROTO, 0,
                             "LIST_ENTRY entry %u: path or link too long, truncated or "
                             "holding a NUL",
                             i);
        if (type > SS_FT_OTHER || mode > 07777 || nsec > 999999999)
            return ss_seterr(err, SS_EPROTO, 0, "LIST_ENTRY entry %u: bad type, mode or mtime",
                             i);
        e->type = (ss_ftype)type;
        e->mode = mode;
        e->mtime_sec = (int64_t)mtime;
        e->mtime_nsec = (long)nsec;
        e->path = arena;
        memcpy(arena, p, pn);
        arena[pn] = 0;
        arena += pn + 1;
        if (!path_ok(e->path, pn))
            return ss_seterr(err, SS_EPROTO, 0, "LIST_ENTRY: unsafe path \"%.200s\"", e->path);
        if ((e->type == SS_FT_LNK) != (kn > 0))
            return ss_seterr(err, SS_EPROTO, 0, "LIST_ENTRY %.200s: symlink target %s",
                             e->path, kn ? "on a non-symlink" : "missing");
        e->link = NULL;
        if (kn) {
            e->link = arena;
            memcpy(arena, k, kn);
            arena[kn] = 0;
            arena += kn + 1;
        }
        l->n = i + 1;
    }
    return 0;
}

static int decode_body(ss_rbuf *r, unsigned type, ss_msg *m, ss_err *err)
{
    switch (type) {
    case SS_MSG_HELLO: {
        ss_msg_hello *h = &m->u.hello;
        uint32_t magic;
        uint16_t ver;
        if (ss_rbuf_u32(r, &magic) < 0)
            return short_msg(err, type, "magic");
        if (magic != SS_PROTO_MAGIC)
            return ss_seterr(err, SS_EPROTO, 0,
                             "peer is not a segsync agent (bad magic 0x%08x in HELLO)", magic);
        ss_rbuf_u16(r, &ver);
        ss_rbuf_u32(r, &h->caps);
        ss_rbuf_u32(r, &h->block_size);
        ss_rbuf_u32(r, &h->chunk_size);
        if (r->bad)
            return short_msg(err, type, "fields");
        h->version = ver;
        return check_hello(h, SS_EPROTO, err);
    }
    case SS_MSG_AUTH_CHALLENGE:
        if (ss_rbuf_bytes(r, m->u.challenge.nonce, SS_AUTH_NONCE) < 0)
            return short_msg(err, type, "nonce");
        return 0;
    case SS_MSG_AUTH_RESPONSE:
        if (ss_rbuf_bytes(r, m->u.response.nonce, SS_AUTH_NONCE) < 0 ||
            ss_rbuf_bytes(r, m->u.response.mac, SS_AUTH_MAC) < 0)
            return short_msg(err, type, "nonce and mac");
        return 0;
    case SS_MSG_AUTH_OK:
        if (ss_rbuf_bytes(r, m->u.auth_ok.mac, SS_AUTH_MAC) < 0)
            return short_msg(err, type, "mac");
        return 0;
    case SS_MSG_LIST_REQ: {
        const char *p;
        size_t n;
        if (ss_rbuf_str(r, SS_NET_PATH_MAX, &p, &n) < 0)
            return ss_seterr(err, SS_EPROTO, 0, "LIST_REQ: path truncated, too long or with NUL");
        if (n && !(m->u.list_req.path = dup_str(p, n, err)))
            return -1;
        if (n && !path_ok(m->u.list_req.path, n))
            return ss_seterr(err, SS_EPROTO, 0, "LIST_REQ: unsafe path \"%.200s\"",
                             m->u.list_req.path);
        return 0;
    }
    case SS_MSG_LIST_ENTRY:
        return decode_list(r, &m->u.list, err);
    case SS_MSG_RANGE_REQ: {
        ss_msg_range_req *q = &m->u.range_req;
        const char *p;
        size_t n;
        uint8_t flags;
        uint32_t nsigs;
        if (ss_rbuf_u64(r, &q->id) < 0)
            return short_msg(err, type, "id");
        if (ss_rbuf_str(r, SS_NET_PATH_MAX, &p, &n) < 0)
            return ss_seterr(err, SS_EPROTO, 0,
                             "RANGE_REQ: path truncated, too long or with NUL");
        if (!(q->path = dup_str(p, n, err)))
            return -1;
        ss_rbuf_u64(r, &q->file_size);
        ss_rbuf_u64(r, &q->off);
        ss_rbuf_u64(r, &q->len);
        ss_rbuf_u32(r, &q->block_size);
        ss_rbuf_u8(r, &flags);
        ss_rbuf_u32(r, &nsigs);
        if (r->bad)
            return short_msg(err, type, "fields");
        if (flags & ~(RANGE_F_LAST | RANGE_F_COMPARE | RANGE_F_LIVE))
            return ss_seterr(err, SS_EPROTO, 0, "RANGE_REQ: unknown flags 0x%02x", flags);
        q->last = !!(flags & RANGE_F_LAST);
        q->compare = !!(flags & RANGE_F_COMPARE);
        q->live = !!(flags & RANGE_F_LIVE);
        q->nsigs = nsigs;
        q->sigs = NULL;
        /* Relations first (they bound nsigs), then the count against the
         * bytes, then allocate. */
        if (check_range_req(&(ss_msg_range_req){ .path = q->path, .file_size = q->file_size,
                                                 .off = q->off, .len = q->len,
                                                 .block_size = q->block_size,
                                                 .last = q->last, .nsigs = 0 },
                            SS_EPROTO, err) < 0)
            return -1;
        if (nsigs > ss_nblocks(q->len, q->block_size))
            return ss_seterr(err, SS_EPROTO, 0, "RANGE_REQ %.200s: %u signatures for %zu blocks",
                             q->path, nsigs, ss_nblocks(q->len, q->block_size));
        if (ss_rbuf_left(r) != (size_t)nsigs * SIG_WIRE)
            return ss_seterr(err, SS_EPROTO, 0,
                             "RANGE_REQ %.200s: %u signatures need %zu bytes, %zu remain",
                             q->path, nsigs, (size_t)nsigs * SIG_WIRE, ss_rbuf_left(r));
        if (nsigs) {
            q->sigs = malloc((size_t)nsigs * sizeof *q->sigs);
            if (!q->sigs)
                return ss_seterr(err, SS_EINTERNAL, ENOMEM, "cannot decode RANGE_REQ");
            for (uint32_t i = 0; i < nsigs; i++) {
                ss_rbuf_u64(r, &q->sigs[i].lo);
                ss_rbuf_u64(r, &q->sigs[i].hi);
            }
        }
        return 0;
    }
    case SS_MSG_RANGE_DATA: {
        ss_msg_range_data *d = &m->u.range_data;
        uint8_t kind;
        ss_rbuf_u64(r, &d->id);
        ss_rbuf_u64(r, &d->off);
        ss_rbuf_u32(r, &d->len);
        ss_rbuf_u8(r, &kind);
        ss_rbuf_u64(r, &d->hash.lo);
        ss_rbuf_u64(r, &d->hash.hi);
        if (r->bad)
            return short_msg(err, type, "fields");
        d->hash_kind = (ss_hash_kind)kind;
        if (ss_rbuf_left(r) != d->len)
            return ss_seterr(err, SS_EPROTO, 0,
                             "RANGE_DATA: says %u bytes of data, the frame holds %zu", d->len,
                             ss_rbuf_left(r));
        if (ss_rbuf_ref(r, &d->data, d->len) < 0)
            return short_msg(err, type, "data");
        if (kind == SS_HASH_XXH3_64 && d->hash.hi != 0)
            return ss_seterr(err, SS_EPROTO, 0, "RANGE_DATA: 64-bit hash with high bits set");
        return check_range_data(d, SS_EPROTO, err);
    }
    case SS_MSG_RANGE_END:
    case SS_MSG_RANGE_GONE:
        if (ss_rbuf_u64(r, &m->u.range_end.id) < 0)
            return short_msg(err, type, "id");
        return 0;
    case SS_MSG_FILE_REQ: {
        ss_msg_file_req *q = &m->u.file_req;
        const char *p;
        size_t n;
        if (ss_rbuf_u64(r, &q->id) < 0)
            return short_msg(err, type, "id");
        if (ss_rbuf_str(r, SS_NET_PATH_MAX, &p, &n) < 0)
            return ss_seterr(err, SS_EPROTO, 0, "FILE_REQ: path truncated, too long or with NUL");
        if (!(q->path = dup_str(p, n, err)))
            return -1;
        if (ss_rbuf_u32(r, &q->max) < 0)
            return short_msg(err, type, "max");
        return check_file_req(q, SS_EPROTO, err);
    }
    case SS_MSG_FILE_DATA: {
        ss_msg_file_data *d = &m->u.file_data;
        uint8_t status;
        ss_rbuf_u64(r, &d->id);
        ss_rbuf_u8(r, &status);
        ss_rbuf_u32(r, &d->len);
        ss_rbuf_u64(r, &d->hash.lo);
        ss_rbuf_u64(r, &d->hash.hi);
        if (r->bad)
            return short_msg(err, type, "fields");
        if (status > FILE_ABSENT)
            return ss_seterr(err, SS_EPROTO, 0, "FILE_DATA: unknown status %u", status);
        d->absent = status == FILE_ABSENT;
        if (ss_rbuf_left(r) != d->len)
            return ss_seterr(err, SS_EPROTO, 0,
                             "FILE_DATA: says %u bytes of data, the frame holds %zu", d->len,
                             ss_rbuf_left(r));
        if (ss_rbuf_ref(r, &d->data, d->len) < 0)
            return short_msg(err, type, "data");
        if (d->absent && (d->hash.lo || d->hash.hi))
            return ss_seterr(err, SS_EPROTO, 0, "FILE_DATA: hash for an absent file");
        return check_file_data(d, SS_EPROTO, err);
    }
    case SS_MSG_LIST_END: {
        ss_msg_list_end *l = &m->u.list_end;
        if (ss_rbuf_left(r) == 0)
            return 0;       /* an agent without SS_CAP_EXT */
        uint64_t sec;
        uint32_t nsec;
        ss_rbuf_u32(r, &l->mode);
        ss_rbuf_u32(r, &l->uid);
        ss_rbuf_u32(r, &l->gid);
        ss_rbuf_u64(r, &sec);
        ss_rbuf_u32(r, &nsec);
        if (r->bad)
            return short_msg(err, type, "root attributes");
        l->has_root = 1;
        l->mtime_sec = (int64_t)sec;
        l->mtime_nsec = nsec > 999999999u ? -1 : (long)nsec;
        return check_list_end(l, SS_EPROTO, err);
    }
    case SS_MSG_ERROR: {
        ss_msg_error *e = &m->u.error;
        uint8_t kind;
        const char *t;
        size_t n;
        ss_rbuf_u64(r, &e->id);
        ss_rbuf_u8(r, &kind);
        if (r->bad)
            return short_msg(err, type, "id and kind");
        if (kind == SS_OK || kind > SS_EINTERNAL)
            return ss_seterr(err, SS_EPROTO, 0, "ERROR: unknown error kind %u", kind);
        if (ss_rbuf_str(r, SS_NET_TEXT_MAX, &t, &n) < 0)
            return ss_seterr(err, SS_EPROTO, 0, "ERROR: text truncated, too long or with NUL");
        e->kind = (ss_errkind)kind;
        /* The text ends up on a terminal: no escape sequences from a peer. */
        for (size_t i = 0; i < n; i++) {
            unsigned char c = (unsigned char)t[i];
            e->text[i] = (c < 0x20 || c == 0x7f) ? '?' : (char)c;
        }
        e->text[n] = 0;
        return 0;
    }
    case SS_MSG_END:
    case SS_MSG_PING:
    case SS_MSG_PONG:
        return 0;
    default:
        return ss_seterr(err, SS_EPROTO, 0, "unknown message type %u", type);
    }
}

int ss_msg_decode(const ss_frame *f, ss_msg *m, ss_err *err)
{
    memset(m, 0, sizeof *m);
    m->type = (ss_msg_type)f->type;
    ss_rbuf r;
    ss_rbuf_init(&r, f->payload, f->len);
    if (decode_body(&r, f->type, m, err) < 0) {
        ss_msg_free(m);
        return -1;
    }
    if (ss_rbuf_left(&r)) {
        ss_seterr(err, SS_EPROTO, 0, "%s message has %zu unexpected trailing bytes",
                  ss_msg_type_name(f->type), ss_rbuf_left(&r));
        ss_msg_free(m);
        return -1;
    }
    return 0;
}

void ss_msg_free(ss_msg *m)
{
    switch (m->type) {
    case SS_MSG_LIST_REQ:
        free(m->u.list_req.path);
        m->u.list_req.path = NULL;
        break;
    case SS_MSG_LIST_ENTRY:
        free(m->u.list.v);
        free(m->u.list.strings);
        m->u.list.v = NULL;
        m->u.list.strings = NULL;
        m->u.list.n = 0;
        break;
    case SS_MSG_FILE_REQ:
        free(m->u.file_req.path);
        m->u.file_req.path = NULL;
        break;
    case SS_MSG_RANGE_REQ:
        free(m->u.range_req.path);
        free(m->u.range_req.sigs);
        m->u.range_req.path = NULL;
        m->u.range_req.sigs = NULL;
        break;
    default:
        break;
    }
}

void ss_msg_error_set(ss_msg *m, uint64_t id, const ss_err *e)
{
    memset(m, 0, sizeof *m);
    m->type = SS_MSG_ERROR;
    m->u.error.id = id;
    m->u.error.kind = (e && e->kind != SS_OK) ? e->kind : SS_EINTERNAL;
    snprintf(m->u.error.text, sizeof m->u.error.text, "%s", e ? e->msg : "unknown error");
}

int ss_msg_range_data_verify(const ss_msg_range_data *d, ss_err *err)
{
    ss_sig h;
    hash_data(d->hash_kind, d->data, d->len, &h);
    if (!ss_sig_eq(&h, &d->hash))
        return ss_seterr(err, SS_EPROTO, 0,
                         "RANGE_DATA at offset %llu (%u bytes): checksum mismatch, data "
                         "corrupted in transit",
                         (unsigned long long)d->off, d->len);
    return 0;
}

int ss_msg_file_data_verify(const ss_msg_file_data *d, ss_err *err)
{
    if (d->absent)
        return 0;
    ss_sig h;
    hash_data(SS_HASH_XXH3_128, d->data, d->len, &h);
    if (!ss_sig_eq(&h, &d->hash))
        return ss_seterr(err, SS_EPROTO, 0,
                         "FILE_DATA (%u bytes): checksum mismatch, data corrupted in transit",
                         d->len);
    return 0;
}
