/*
 * workq.h — a bounded multi-producer multi-consumer queue of fixed-size
 * items. The bound is what keeps memory (and open files) flat however large
 * the tree: a producer blocks while the queue is full, and is woken again
 * only once it has drained to half, so a producer that keeps the queue full
 * is woken once per cap/2 items rather than once per item (each wake-up is
 * a futex round trip and two context switches).
 */
#ifndef SEGSYNC_WORKQ_H
#define SEGSYNC_WORKQ_H

#include <pthread.h>
#include <stddef.h>

typedef struct {
    pthread_mutex_t mu;
    pthread_cond_t not_empty, not_full;
    unsigned char *items;
    size_t item_size, cap, head, count;
    unsigned push_waiters, pop_waiters;
    int closed;
} ss_workq;

int ss_workq_init(ss_workq *q, size_t item_size, size_t cap);
void ss_workq_destroy(ss_workq *q);
/* Blocks while full. Returns -1 if the queue was closed. */
int ss_workq_push(ss_workq *q, const void *item);
/* Blocks while empty. Returns 0 with *item filled, -1 once closed and drained. */
int ss_workq_pop(ss_workq *q, void *item);
/* Never blocks: 0 with *item filled, -1 when the queue is empty now. */
int ss_workq_trypop(ss_workq *q, void *item);
/* No more pushes; consumers drain what is left and then see -1. */
void ss_workq_close(ss_workq *q);

#endif
