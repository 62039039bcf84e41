/* test_workq.c — the bounded queue: FIFO order, the bound, close/drain,
 * and many producers and consumers losing nothing. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdatomic.h>

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

int main(void)
{
    const struct CMUnitTest t[] = {
        cmocka_unit_test(test_fifo_and_close),
        cmocka_unit_test(test_many_threads),
    };
    return cmocka_run_group_tests(t, NULL, NULL);
}
