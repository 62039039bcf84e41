/* progress.h — a thread that shows the engine's counters: one refreshing
 * line on a terminal, a plain line every few seconds otherwise. */
#ifndef SEGSYNC_CLI_PROGRESS_H
#define SEGSYNC_CLI_PROGRESS_H

#include <pthread.h>
#include <stdatomic.h>

#include "engine/sync.h"

typedef struct {
    const ss_counters *ctr;
    const char *what;
    atomic_int stop;
    pthread_t tid;
    int running, tty;
    double t0;
} cli_progress;

double cli_now(void);
int cli_progress_start(cli_progress *p, const ss_counters *ctr, const char *what);
/* Print a final line and stop the thread. */
void cli_progress_stop(cli_progress *p);

#endif
