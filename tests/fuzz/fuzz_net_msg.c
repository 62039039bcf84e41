/*
 * fuzz_net_msg.c — arbitrary bytes into the wire protocol's decoders.
 *
 * The first byte picks the way in:
 *   0..3  a byte stream through the frame decoder, in pieces whose sizes
 *         come from the input, each frame decoded as a message;
 *   4..7  one message payload straight into ss_msg_decode (byte 1 = type);
 *   8..9  a zstd stream through ss_zdec_read, then frames and messages.
 * Every message that decodes must encode again and decode to the same
 * type: the encoder and decoder agree on the rules.
 *
 * Built with -DFUZZ_SEED_MAIN (no libFuzzer) it writes a seed corpus of
 * valid messages into the directory given as argv[1] instead.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/net/frame.h"
#include "engine/net/msg.h"
#include "engine/net/zstream.h"

static void reencode(const ss_msg *m)
{
    ss_wbuf w;
    ss_err err;
    ss_frame_dec d;
    ss_frame f;
    size_t used;
    ss_wbuf_init(&w, SS_FRAME_MAX_PAYLOAD + SS_FRAME_HDR);
    if (ss_msg_encode(&w, m, &err) < 0) {
        /* Only LIST_ENTRY batches too big for one frame may be refused. */
        if (m->type != SS_MSG_LIST_ENTRY)
            abort();
        ss_wbuf_free(&w);
        return;
    }
    ss_frame_dec_init(&d, 0);
    if (ss_frame_dec_feed(&d, w.p, w.len, &used, &f, &err) != 1 || used != w.len)
        abort();
    ss_msg back;
    if (ss_msg_decode(&f, &back, &err) < 0 || back.type != m->type)
        abort();
    /* The fields that decide what is read and how much come back equal. */
    if (m->type == SS_MSG_FILE_REQ &&
        (back.u.file_req.id != m->u.file_req.id || back.u.file_req.max != m->u.file_req.max ||
         strcmp(back.u.file_req.path, m->u.file_req.path) != 0))
        abort();
    if (m->type == SS_MSG_FILE_DATA &&
        (back.u.file_data.absent != m->u.file_data.absent ||
         back.u.file_data.len != m->u.file_data.len ||
         memcmp(back.u.file_data.data, m->u.file_data.data, m->u.file_data.len) != 0))
        abort();
    if (m->type == SS_MSG_LIST_END &&
        memcmp(&back.u.list_end, &m->u.list_end, sizeof back.u.list_end) != 0)
        abort();
    if (m->type == SS_MSG_RANGE_REQ && (back.u.range_req.live != m->u.range_req.live ||
                                        back.u.range_req.last != m->u.range_req.last))
        abort();
    ss_msg_free(&back);
    ss_frame_dec_free(&d);
    ss_wbuf_free(&w);
}

static void take_message(const ss_frame *f)
{
    ss_msg m;
    ss_err err;
    if (ss_msg_decode(f, &m, &err) < 0)
        return;
    if (m.type == SS_MSG_RANGE_DATA)
        (void)ss_msg_range_data_verify(&m.u.range_data, &err);
    if (m.type == SS_MSG_FILE_DATA)
        (void)ss_msg_file_data_verify(&m.u.file_data, &err);
    reencode(&m);
    ss_msg_free(&m);
}

/* Feed a byte stream to a frame decoder; piece sizes cycle through `sizes`. */
static void frames(ss_frame_dec *d, const uint8_t *p, size_t n, const uint8_t *sizes,
                   size_t nsizes, size_t *k)
{
    ss_err err;
    ss_frame f;
    while (n > 0) {
        size_t piece = nsizes ? 1 + sizes[(*k)++ % nsizes] : n;
        if (piece > n)
            piece = n;
        size_t off = 0;
        while (off < piece) {
            size_t used;
            int rc = ss_frame_dec_feed(d, p + off, piece - off, &used, &f, &err);
            if (rc < 0)
                return;
            off += used;
            if (rc == 1)
                take_message(&f);
            else if (off != piece)
                abort();
        }
        p += piece;
        n -= piece;
    }
}

typedef struct {
    const uint8_t *p;
    size_t n;
} mem_reader;

static ssize_t mem_read(void *ctx, void *buf, size_t cap, ss_err *err)
{
    (void)err;
    mem_reader *r = ctx;
    size_t k = r->n < cap ? r->n : cap;
    if (k > 97)
        k = 97;
    memcpy(buf, r->p, k);
    r->p += k;
    r->n -= k;
    return (ssize_t)k;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2)
        return 0;
    uint8_t mode = data[0] % 10;
    ss_err err;
    if (mode < 4) {
        /* Piece sizes from a few bytes of the input, the rest is the stream. */
        size_t nsizes = mode < size - 1 ? mode : 0;
        const uint8_t *sizes = data + 1;
        ss_frame_dec d;
        size_t k = 0;
        ss_frame_dec_init(&d, 0);
        frames(&d, data + 1 + nsizes, size - 1 - nsizes, sizes, nsizes, &k);
        (void)ss_frame_dec_eof(&d, &err);
        ss_frame_dec_free(&d);
    } else if (mode < 8) {
        ss_frame f = { .type = data[1], .flags = 0, .len = (uint32_t)(size - 2),
                       .payload = data + 2 };
        take_message(&f);
    } else {
        mem_reader r = { data + 1, size - 1 };
        ss_zdec *z;
        if (ss_zdec_new(&z, SS_Z_ZSTD, mem_read, &r, &err) < 0)
            return 0;
        ss_frame_dec d;
        size_t k = 0;
        ss_frame_dec_init(&d, 0);
        uint8_t out[4096];
        size_t total = 0;
        ssize_t n;
        /* A bomb decodes in bounded pieces; stop after 1 MiB. */
        while (total < (1u << 20) && (n = ss_zdec_read(z, out, sizeof out, &err)) > 0) {
            total += (size_t)n;
            frames(&d, out, (size_t)n, NULL, 0, &k);
        }
        ss_frame_dec_free(&d);
        ss_zdec_free(z);
    }
    return 0;
}

#ifdef FUZZ_SEED_MAIN
static int n_seed;

static void seed(const char *dir, uint8_t mode, const ss_msg *m, const ss_wbuf *pre)
{
    ss_wbuf w;
    ss_err err;
    ss_wbuf_init(&w, 1 << 20);
    ss_wbuf_u8(&w, mode);
    if (pre)
        ss_wbuf_bytes(&w, pre->p, pre->len);
    else if (ss_msg_encode(&w, m, &err) < 0) {
        fprintf(stderr, "seed: %s\n", err.msg);
        exit(1);
    }
    char path[4096];
    snprintf(path, sizeof path, "%s/seed-%02d", dir, n_seed++);
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(w.p, 1, w.len, f) != w.len || fclose(f) != 0) {
        perror(path);
        exit(1);
    }
    ss_wbuf_free(&w);
}

static int sink_append(void *ctx, const void *p, size_t n, ss_err *err)
{
    (void)err;
    return ss_wbuf_bytes(ctx, p, n);
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: %s CORPUS_DIR\n", argv[0]);
        return 2;
    }
    const char *dir = argv[1];
    ss_msg m;
    memset(&m, 0, sizeof m);
    m.type = SS_MSG_HELLO;
    m.u.hello = (ss_msg_hello){ SS_PROTO_VERSION, SS_CAP_ZSTD, 8192, 1 << 20 };
    seed(dir, 0, &m, NULL);
    m.type = SS_MSG_AUTH_RESPONSE;
    memset(m.u.response.nonce, 7, sizeof m.u.response.nonce);
    seed(dir, 0, &m, NULL);
    m.type = SS_MSG_LIST_REQ;
    m.u.list_req.path = "base";
    seed(dir, 0, &m, NULL);
    ss_entry e[3] = {
        { .path = "base", .type = SS_FT_DIR, .mode = 0700 },
        { .path = "base/1/2", .type = SS_FT_REG, .mode = 0600, .size = 8192 },
        { .path = "pg_tblspc/16385", .link = "/data/ts/1", .type = SS_FT_LNK, .mode = 0777 },
    };
    m.type = SS_MSG_LIST_ENTRY;
    m.u.list.v = e;
    m.u.list.n = 3;
    seed(dir, 1, &m, NULL);
    ss_sig sigs[2] = { { 1, 2 }, { 3, 4 } };
    m.type = SS_MSG_RANGE_REQ;
    m.u.range_req = (ss_msg_range_req){ .id = 1, .path = "base/1/2", .file_size = 16384,
                                        .off = 0, .len = 16384, .block_size = 8192,
                                        .last = 1, .compare = 1, .sigs = sigs, .nsigs = 2 };
    seed(dir, 2, &m, NULL);
    m.type = SS_MSG_RANGE_DATA;
    m.u.range_data = (ss_msg_range_data){ .id = 1, .off = 8192, .len = 5,
                                          .hash_kind = SS_HASH_XXH3_128, .data = "hello" };
    seed(dir, 3, &m, NULL);
    m.type = SS_MSG_RANGE_REQ;
    m.u.range_req = (ss_msg_range_req){ .id = 2, .path = "pg_tblspc/16385/PG_15/1/3",
                                        .file_size = 8192, .off = 0, .len = 8192,
                                        .block_size = 8192, .last = 1, .live = 1 };
    seed(dir, 0, &m, NULL);
    memset(&m, 0, sizeof m);
    m.type = SS_MSG_FILE_REQ;
    m.u.file_req = (ss_msg_file_req){ .id = 3, .path = "global/pg_control", .max = 8192 };
    seed(dir, 1, &m, NULL);
    m.type = SS_MSG_FILE_DATA;
    m.u.file_data = (ss_msg_file_data){ .id = 3, .len = 11, .data = "port = 5432" };
    seed(dir, 2, &m, NULL);
    m.u.file_data = (ss_msg_file_data){ .id = 4, .absent = 1 };
    seed(dir, 0, &m, NULL);
    m.type = SS_MSG_LIST_END;
    m.u.list_end = (ss_msg_list_end){ 1, 0700, 26, 26, 1700000000, 123456789 };
    seed(dir, 3, &m, NULL);
    memset(&m, 0, sizeof m);
    m.type = SS_MSG_RANGE_GONE;
    m.u.range_end.id = 2;
    seed(dir, 1, &m, NULL);
    m.type = SS_MSG_PING;
    seed(dir, 2, &m, NULL);
    m.type = SS_MSG_PONG;
    seed(dir, 3, &m, NULL);
    ss_err why = { .kind = SS_ECHANGED, .msg = "base/1/2 changed size" };
    ss_msg_error_set(&m, 1, &why);
    seed(dir, 0, &m, NULL);

    /* A zstd stream holding two messages. */
    ss_wbuf plain, z;
    ss_err err;
    ss_wbuf_init(&plain, 1 << 20);
    ss_wbuf_init(&z, 1 << 20);
    m.type = SS_MSG_RANGE_END;
    m.u.range_end.id = 1;
    ss_msg_encode(&plain, &m, &err);
    m.type = SS_MSG_END;
    ss_msg_encode(&plain, &m, &err);
    ss_zopt o = { SS_Z_ZSTD, 3 };
    ss_zenc *enc;
    if (ss_zenc_new(&enc, &o, sink_append, &z, &err) < 0 ||
        ss_zenc_write(enc, plain.p, plain.len, &err) < 0 || ss_zenc_end(enc, &err) < 0) {
        fprintf(stderr, "seed: %s\n", err.msg);
        return 1;
    }
    ss_zenc_free(enc);
    seed(dir, 8, NULL, &z);
    ss_wbuf_free(&plain);
    ss_wbuf_free(&z);
    return 0;
}
#endif
