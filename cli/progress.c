#include "cli/progress.h"
#include "cli/report.h"

#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

double cli_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static const char *phase_name(int ph)
{
    switch (ph) {
    case SS_PHASE_LIST: return "listing";
    case SS_PHASE_PREPARE: return "preparing";
    case SS_PHASE_DATA: return "data";
    case SS_PHASE_FINISH: return "finishing";
    case SS_PHASE_SYNC: return "syncing";
    default: return "done";
    }
}

static void show(cli_progress *p, int final)
{
    const ss_counters *c = p->ctr;
    double el = cli_now() - p->t0;
    double done = (double)atomic_load(&c->bytes_done), total = (double)atomic_load(&c->bytes_total);
    double xfer = (double)atomic_load(&c->bytes_transferred);
    double rate = el > 0 ? done / el : 0;
    char d[32], t[32], x[32], r[32], eta[32] = "--:--";
    cli_human_bytes(d, sizeof d, done);
    cli_human_bytes(t, sizeof t, total);
    cli_human_bytes(x, sizeof x, xfer);
    cli_human_bytes(r, sizeof r, rate);
    if (rate > 0 && total >= done) {
        long s = (long)((total - done) / rate);
        snprintf(eta, sizeof eta, "%ld:%02ld", s / 60, s % 60);
    }
    int pct = total > 0 ? (int)(100.0 * done / total) : 100;
    fprintf(stderr, "%s%s: %s %s / %s (%d%%), %s transferred, %s/s, ETA %s, %.1fs%s",
            p->tty ? "\r" : "", p->what, phase_name(atomic_load(&c->phase)), d, t, pct, x, r,
            eta, el, p->tty ? "\033[K" : "\n");
    if (final && p->tty)
        fputc('\n', stderr);
    fflush(stderr);
}

static void *progress_main(void *arg)
{
    cli_progress *p = arg;
    /* Refresh a terminal often; a log file gets a line every 5 seconds. */
    int tick_ms = p->tty ? 250 : 5000, waited = 0;
    while (!atomic_load(&p->stop)) {
        usleep(50 * 1000);
        waited += 50;
        if (waited >= tick_ms) {
            waited = 0;
            show(p, 0);
        }
    }
    return NULL;
}

int cli_progress_start(cli_progress *p, const ss_counters *ctr, const char *what)
{
    memset(p, 0, sizeof *p);
    p->ctr = ctr;
    p->what = what;
    p->tty = isatty(STDERR_FILENO);
    p->t0 = cli_now();
    if (pthread_create(&p->tid, NULL, progress_main, p) != 0)
        return -1;
    p->running = 1;
    return 0;
}

void cli_progress_stop(cli_progress *p)
{
    if (!p->running)
        return;
    atomic_store(&p->stop, 1);
    pthread_join(p->tid, NULL);
    p->running = 0;
    show(p, 1);
}
