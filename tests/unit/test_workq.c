/* test_workq.c — the bounded queue: FIFO order, the bound, close/drain,
 * many producers and consumers losing nothing, trypop, and a blocked
 * producer released only once the queue has drained to half. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdatomic.h>
#include <time.h>

#include "engine/workq.h"

static void test_fifo_and_close(void **state)
{
    (void)state;
    ss_workq q;
    assert_int_equal(ss_workq_init(&q, sizeof(int), 4), 0);
    for (int i = 0; i < 4; i++)
        assert_int_equal(ss_workq_push(&q, &i), 0);
    ss_workq_close(&q);
    int five = 5, v;
    assert_int_equal(ss_workq_push(&q, &five), -1);
    for (int i = 0; i < 4; i++) {
        assert_int_equal(ss_workq_pop(&q, &v), 0);
        assert_int_equal(v, i);
    }
    assert_int_equal(ss_workq_pop(&q, &v), -1);
    ss_workq_destroy(&q);
}

typedef struct {
    ss_workq *q;
    atomic_long sum;
    atomic_int count;
} shared;

static void *producer(void *arg)
{
    shared *s = arg;
    for (int i = 1; i <= 1000; i++)
        ss_workq_push(s->q, &i);
    return NULL;
}

static void *consumer(void *arg)
{
    shared *s = arg;
    int v;
    while (ss_workq_pop(s->q, &v) == 0) {
        atomic_fetch_add(&s->sum, v);
        atomic_fetch_add(&s->count, 1);
    }
    return NULL;
}

static void test_many_threads(void **state)
{
    (void)state;
    ss_workq q;
    assert_int_equal(ss_workq_init(&q, sizeof(int), 3), 0);
    shared s = { &q, 0, 0 };
    pthread_t p[4], c[3];
    for (int i = 0; i < 3; i++)
        pthread_create(&c[i], NULL, consumer, &s);
    for (int i = 0; i < 4; i++)
        pthread_create(&p[i], NULL, producer, &s);
    for (int i = 0; i < 4; i++)
        pthread_join(p[i], NULL);
    ss_workq_close(&q);
    for (int i = 0; i < 3; i++)
        pthread_join(c[i], NULL);
    assert_int_equal(atomic_load(&s.count), 4000);
    assert_int_equal(atomic_load(&s.sum), 4 * 500500L);
    ss_workq_destroy(&q);
}

static void test_trypop(void **state)
{
    (void)state;
    ss_workq q;
    int v = 7;
    assert_int_equal(ss_workq_init(&q, sizeof(int), 2), 0);
    assert_int_equal(ss_workq_trypop(&q, &v), -1);
    assert_int_equal(v, 7);
    int one = 1, two = 2;
    assert_int_equal(ss_workq_push(&q, &one), 0);
    assert_int_equal(ss_workq_push(&q, &two), 0);
    assert_int_equal(ss_workq_trypop(&q, &v), 0);
    assert_int_equal(v, 1);
    assert_int_equal(ss_workq_pop(&q, &v), 0);
    assert_int_equal(v, 2);
    assert_int_equal(ss_workq_trypop(&q, &v), -1);
    ss_workq_destroy(&q);
}

typedef struct {
    ss_workq *q;
    atomic_int pushed;
} blocked;

static void *push_one(void *arg)
{
    blocked *b = arg;
    int x = 99;
    ss_workq_push(b->q, &x);
    atomic_store(&b->pushed, 1);
    return NULL;
}

static void sleep_ms(long ms)
{
    struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
    nanosleep(&ts, NULL);
}

static void test_producer_waits_for_half(void **state)
{
    (void)state;
    ss_workq q;
    assert_int_equal(ss_workq_init(&q, sizeof(int), 8), 0);
    for (int i = 0; i < 8; i++)
        assert_int_equal(ss_workq_push(&q, &i), 0);
    blocked b = { &q, 0 };
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, push_one, &b), 0);
    /* Until it is asleep on the full queue (bounded wait). */
    unsigned waiting = 0;
    for (int i = 0; i < 500 && !waiting; i++) {
        pthread_mutex_lock(&q.mu);
        waiting = q.push_waiters;
        pthread_mutex_unlock(&q.mu);
        if (!waiting)
            sleep_ms(10);
    }
    assert_int_equal(waiting, 1);
    int v;
    /* 7, 6, 5 left: still more than half full, the producer sleeps on. */
    for (int i = 0; i < 3; i++) {
        assert_int_equal(ss_workq_pop(&q, &v), 0);
        assert_int_equal(v, i);
    }
    sleep_ms(50);
    assert_int_equal(atomic_load(&b.pushed), 0);
    /* 4 left: half. Now it must get through (bounded wait). */
    assert_int_equal(ss_workq_trypop(&q, &v), 0);
    assert_int_equal(v, 3);
    for (int i = 0; i < 500 && !atomic_load(&b.pushed); i++)
        sleep_ms(10);
    assert_int_equal(atomic_load(&b.pushed), 1);
    pthread_join(t, NULL);
    for (int i = 4; i < 8; i++) {
        assert_int_equal(ss_workq_pop(&q, &v), 0);
        assert_int_equal(v, i);
    }
    assert_int_equal(ss_workq_pop(&q, &v), 0);
    assert_int_equal(v, 99);
    ss_workq_destroy(&q);
}

int main(void)
{
    const struct CMUnitTest t[] = {
        cmocka_unit_test(test_fifo_and_close),
        cmocka_unit_test(test_many_threads),
        cmocka_unit_test(test_trypop),
        cmocka_unit_test(test_producer_waits_for_half),
    };
    return cmocka_run_group_tests(t, NULL, NULL);
}
