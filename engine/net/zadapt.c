#include "engine/net/zadapt.h"

void ss_zadapt_init(ss_zadapt *a, int level, int lo, int hi)
{
    a->level = level;
    a->dir = 1;
    a->lo = lo;
    a->hi = hi;
    a->last_tput = 0;
}

int ss_zadapt_step(ss_zadapt *a, uint64_t in_bytes, uint64_t comp_ns, uint64_t write_ns)
{
    uint64_t ns = comp_ns + write_ns;
    double tput = ns ? (double)in_bytes / (double)ns : 0;
    if (write_ns >= 2 * comp_ns && a->level < a->hi) {
        /* Waiting for the link at least twice as long as compressing: the
         * compressor has time to spare, and on a shaped link the throughput
         * of one window is too noisy to show the 1-3% a step gains. */
        a->dir = 1;
        a->last_tput = tput;
        a->level = a->level + 1 == 0 ? 1 : a->level + 1;
        return a->level;
    }
    if (a->last_tput > 0 &&
        (a->dir > 0 ? tput < 1.01 * a->last_tput : tput < 0.99 * a->last_tput))
        a->dir = -a->dir;
    a->last_tput = tput;
    int next = a->level + a->dir;
    if (next > a->hi || next < a->lo) {
        a->dir = -a->dir;
        next = a->level + a->dir;
    }
    if (next == 0)
        next = a->dir;
    if (next > a->hi || next < a->lo)   /* a range of one level */
        next = a->level;
    a->level = next;
    return next;
}
