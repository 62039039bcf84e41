/* report.h — what the user reads: action lines, differences, the JSON
 * summary, human-readable sizes. Thread-safe where the engine calls it. */
#ifndef SEGSYNC_CLI_REPORT_H
#define SEGSYNC_CLI_REPORT_H

#include <pthread.h>
#include <stdio.h>

#include "cli/options.h"
#include "engine/sync.h"

typedef struct {
    pthread_mutex_t mu;
    const cli_options *opt;
    FILE *plan_out;     /* dry-run plan and verify listing */
    unsigned long differences;
} cli_report;

void cli_report_init(cli_report *r, const cli_options *opt);
void cli_report_destroy(cli_report *r);
/* ss_sync_opts.event callback. */
void cli_report_event(void *ctx, const ss_event *ev);
/* Source listing's skipped callback. */
void cli_report_skipped(void *ctx, const char *path, const char *why);

/* Print path with control characters and backslashes escaped. */
void cli_put_path(FILE *f, const char *path);
/* "1.5 GiB" style. */
void cli_human_bytes(char *buf, size_t n, double bytes);

typedef struct {
    const char *status;         /* "ok", "differs", "error", "interrupted" */
    const char *error;          /* message, or NULL */
    const char *io;             /* backend actually used */
    unsigned jobs;
    double elapsed_s;
    unsigned long long bytes_on_wire;
    const char *outcome;        /* incremental: "rewound", "no_rewind_required", "fell_back" */
    const char *reason;         /* why it fell back, or NULL */
} cli_summary_extra;

void cli_print_json(FILE *f, const cli_options *o, const ss_counters *c,
                    const cli_summary_extra *x, unsigned long differences);

#endif
