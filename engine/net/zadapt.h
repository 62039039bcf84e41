/*
 * zadapt.h — the rule that moves an adaptive zstd level.
 *
 * The thread that compresses also waits for the connection, so what it
 * achieves is plain bytes / (time compressing + time writing). A faster
 * level costs less of the first and more of the second; which wins depends
 * on the link and on who else wants the CPU. After each window the level
 * takes one step in its current direction, and the direction turns when
 * the window did not pay: a step up must gain more than 1% throughput, a
 * step down may lose up to 1% (so on a plateau the cheaper level wins, and
 * a slope is not walked down by small losses). At
 * either end it bounces straight back. One exception: a window that spent
 * at least twice as long writing (waiting for the link) as compressing
 * steps up whatever its throughput, because the compressor has time to
 * spare and on a shaped link the throughput of one window varies more than
 * a step gains (at 100 Mbit/s the rule otherwise wandered in the fast
 * levels while waiting 90% of the time). Level 0 (zstd's "default") is
 * skipped. Pure arithmetic, no clock: zstream measures, this decides.
 */
#ifndef SEGSYNC_NET_ZADAPT_H
#define SEGSYNC_NET_ZADAPT_H

#include <stdint.h>

typedef struct {
    int level, dir, lo, hi;
    double last_tput;       /* previous window's plain bytes per ns; 0 none */
} ss_zadapt;

void ss_zadapt_init(ss_zadapt *a, int level, int lo, int hi);
/* A finished window; returns the level for the next one. */
int ss_zadapt_step(ss_zadapt *a, uint64_t in_bytes, uint64_t comp_ns, uint64_t write_ns);

#endif
