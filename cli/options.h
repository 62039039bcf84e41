/* options.h — the command line, parsed into one struct; no side effects. */
#ifndef SEGSYNC_CLI_OPTIONS_H
#define SEGSYNC_CLI_OPTIONS_H

#include <stdint.h>
#include <stdio.h>

#include "engine/io.h"
#include "engine/net/zstream.h"
#include "engine/recovery/pgsync.h"
#include "engine/sync.h"

enum {
    EXIT_OK = 0,
    EXIT_DIFFERS = 1,       /* verify: trees differ */
    EXIT_USAGE = 2,         /* bad arguments; nothing was touched */
    EXIT_FAILED = 3,        /* the run failed; rerun after fixing the cause */
    EXIT_INTERRUPTED = 4    /* stopped by a signal; rerun to finish */
};

typedef enum { CMD_FULL, CMD_DIFFERENTIAL, CMD_INCREMENTAL, CMD_VERIFY, CMD_SERVE } cli_cmd;

typedef struct {
    cli_cmd cmd;
    const char *cmd_name;
    const char *source, *target;
    int raw;
    unsigned jobs;
    uint32_t block_size;
    int block_size_set;
    ss_io_kind io;
    int dry_run, progress, json, verbose;
    int help, version;
    /* PostgreSQL mode */
    const char *source_server;
    const char *slot;
    int write_recovery_conf;
    int fast_checkpoint;
    int in_place;               /* full --differential */
    int fallback_differential;  /* incremental --fallback=differential */
    int target_dbid;
    int greenplum;              /* -1 detect */
    int via_libpq;              /* no SOURCE: read through --source-server */
    ss_tblspc_map maps[64];
    size_t nmaps;
    /* A source on another host (SOURCE is HOST:DIR), reached through the
     * agent (`segsync serve`); and `serve` itself (ROOT in `source`). */
    char remote_host[256];      /* "" for a local source */
    const char *remote_dir;
    const char *rsh;            /* --rsh, NULL = ssh */
    const char *remote_path;    /* --remote-path, NULL = segsync */
    ss_zopt compress;           /* --compress, default zstd:1 */
    /* SOURCE segsync://HOST:PORT/DIR: remote_host, remote_port set and
     * remote_dir relative to the agent's ROOT ("" = ROOT). */
    char remote_port[8];        /* "" unless SOURCE is segsync://... */
    char remote_subdir[4096];   /* backs remote_dir for segsync:// */
    /* serve --listen ADDR:PORT */
    char listen_host[256];
    char listen_port[8];
    const char *token_file;     /* --token-file (client and serve --listen) */
    int timeout_s;              /* --timeout, 0 = the default */
    uint64_t max_rate;          /* --max-rate in bytes/s, 0 = unlimited */
} cli_options;

/* Returns 0, or -1 after writing one error line (and a hint) to stderr. */
int cli_parse(int argc, char **argv, cli_options *o);
void cli_usage(FILE *f);

#endif
