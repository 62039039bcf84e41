/*
 * rewind.h — the two analyses behind incremental recovery (pgrewind.c),
 * as pg_rewind defines them:
 *
 *  - rewind_find.c: timeline history files, the divergence point and the
 *    last common timeline, the end of the target's WAL, the last common
 *    checkpoint before the divergence (walking xl_prev back);
 *  - rewind_blocks.c: the block map, i.e. per relation segment file the
 *    blocks the target's WAL touched since that checkpoint, and the files
 *    (or whole databases) that must be compared block by block instead
 *    because a record changed them without block references.
 *
 * Neither touches a file outside the target's pg_wal and the source's
 * history file; neither prints.
 */
#ifndef SEGSYNC_RECOVERY_REWIND_H
#define SEGSYNC_RECOVERY_REWIND_H

#include <stddef.h>
#include <stdint.h>

#include "engine/error.h"
#include "engine/pg/walreader.h"

/* ---- timelines and checkpoints (rewind_find.c) ---- */

/* The history of timeline tli as pg_rewind reads it: one entry per
 * timeline, oldest first, each [begin, end) with end 0 for tli itself
 * (open ended). tli 1 has no file. Reads <datadir>/pg_wal/<tli>.history.
 * *out is malloc'ed. */
int ss_rewind_read_history(const char *datadir, uint32_t tli, ss_wal_tli_range **out,
                           size_t *n, ss_err *err);

/* Parse the text of a history file for timeline tli. */
int ss_rewind_parse_history(const char *text, uint32_t tli, ss_wal_tli_range **out, size_t *n,
                            ss_err *err);

/* The point where the histories part: the end of the last timeline both
 * have (the smaller end; open ends count as infinite), and its index. */
int ss_rewind_divergence(const ss_wal_tli_range *src, size_t ns, const ss_wal_tli_range *tgt,
                         size_t nt, ss_lsn *divergence, size_t *common_index, ss_err *err);

/* Walk xl_prev back from the first record at or after forkptr (the end
 * of the last common record) to the last CHECKPOINT_SHUTDOWN or
 * CHECKPOINT_ONLINE before it: its LSN, REDO pointer and timeline. */
int ss_rewind_last_checkpoint(ss_wal_reader *r, ss_lsn forkptr, uint32_t page_size,
                              uint32_t seg_size, ss_lsn *chkpt, ss_lsn *redo, uint32_t *tli,
                              ss_err *err);

/* ---- the block map (rewind_blocks.c) ---- */

typedef struct ss_rewind_map ss_rewind_map;

ss_rewind_map *ss_rewind_map_new(uint32_t relseg_size);
void ss_rewind_map_free(ss_rewind_map *m);

/* Take one record of the target's WAL into the map: every block
 * reference; relations created, truncated or dropped and databases created
 * or dropped marked for full comparison. A record that changes relations
 * in a way not known here is an error naming its LSN and resource manager. */
int ss_rewind_map_record(ss_rewind_map *m, const ss_wal_record *rec, ss_err *err);

/* Sort and deduplicate every block list (before any lookup). */
int ss_rewind_map_finish(ss_rewind_map *m, ss_err *err);

/* ss_sync_opts.known_blocks over the map (ctx is the map); path is
 * relative to the data directory. Non-relation files, free space and
 * visibility map forks (changed without block references) and files
 * marked for comparison: 0. Other relation files: 1 with their touched
 * blocks (none when the WAL did not touch them). */
int ss_rewind_map_known(void *ctx, const char *path, const uint32_t **blocks, size_t *n);

/* Totals for messages: segment files with touched blocks, blocks, and
 * relations / databases marked for full comparison. */
void ss_rewind_map_stats(const ss_rewind_map *m, size_t *files, uint64_t *blocks,
                         size_t *rels_compared, size_t *dbs_compared);

#endif
