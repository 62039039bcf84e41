#include "engine/workq.h"

#include <stdlib.h>
#include <string.h>

int ss_workq_init(ss_workq *q, size_t item_size, size_t cap)
{
    memset(q, 0, sizeof *q);
    q->items = calloc(cap, item_size);
    if (!q->items)
        return -1;
    q->item_size = item_size;
    q->cap = cap;
    pthread_mutex_init(&q->mu, NULL);
    pthread_cond_init(&q->not_empty, NULL);
    pthread_cond_init(&q->not_full, NULL);
    return 0;
}

void ss_workq_destroy(ss_workq *q)
{
    if (!q->items)
        return;
    pthread_mutex_destroy(&q->mu);
    pthread_cond_destroy(&q->not_empty);
    pthread_cond_destroy(&q->not_full);
    free(q->items);
    q->items = NULL;
}

int ss_workq_push(ss_workq *q, const void *item)
{
    pthread_mutex_lock(&q->mu);
    while (q->count == q->cap && !q->closed) {
        q->push_waiters++;
        pthread_cond_wait(&q->not_full, &q->mu);
        q->push_waiters--;
    }
    if (q->closed) {
        pthread_mutex_unlock(&q->mu);
        return -1;
    }
    memcpy(q->items + ((q->head + q->count) % q->cap) * q->item_size, item, q->item_size);
    q->count++;
    int wake = q->pop_waiters > 0;
    pthread_mutex_unlock(&q->mu);
    /* Signalled after unlocking: a consumer woken while we still held the
     * mutex would only block again on it. The condition variables live as
     * long as the queue, so a late signal is at worst a spurious wake-up. */
    if (wake)
        pthread_cond_signal(&q->not_empty);
    return 0;
}

/* Under q->mu with count > 0: take the head; wake a waiting producer
 * (after unlocking: see below). */
static int take_locked(ss_workq *q, void *item)
{
    memcpy(item, q->items + q->head * q->item_size, q->item_size);
    q->head = (q->head + 1) % q->cap;
    q->count--;
    /* A blocked producer waits for half the queue (see workq.h). Every pop
     * that finds count at or below half wakes it, so a missed wake-up is
     * impossible: the producer only waits while the queue is full, and
     * nothing but pops empties it. */
    return q->push_waiters > 0 && q->count <= q->cap / 2;
}

int ss_workq_pop(ss_workq *q, void *item)
{
    pthread_mutex_lock(&q->mu);
    while (q->count == 0 && !q->closed) {
        q->pop_waiters++;
        pthread_cond_wait(&q->not_empty, &q->mu);
        q->pop_waiters--;
    }
    if (q->count == 0) {
        pthread_mutex_unlock(&q->mu);
        return -1;
    }
    int wake = take_locked(q, item);
    pthread_mutex_unlock(&q->mu);
    if (wake)
        pthread_cond_broadcast(&q->not_full);
    return 0;
}

int ss_workq_trypop(ss_workq *q, void *item)
{
    pthread_mutex_lock(&q->mu);
    if (q->count == 0) {
        pthread_mutex_unlock(&q->mu);
        return -1;
    }
    int wake = take_locked(q, item);
    pthread_mutex_unlock(&q->mu);
    if (wake)
        pthread_cond_broadcast(&q->not_full);
    return 0;
}

void ss_workq_close(ss_workq *q)
{
    pthread_mutex_lock(&q->mu);
    q->closed = 1;
    pthread_cond_broadcast(&q->not_empty);
    pthread_cond_broadcast(&q->not_full);
    pthread_mutex_unlock(&q->mu);
}
