/* The adaptive level's rule, on a model of a sender: per level, how fast
 * zstd compresses and how much it leaves (figures of the shape measured on
 * the benchmark's data), and a link that takes compressed bytes at a given
 * rate. Deterministic: no clock. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "engine/net/zadapt.h"

/* level -5..12 -> plain MB/s compressed, and output/input ratio */
static double speed(int l)
{
    static const double s[] = { 820, 800, 760, 720, 678, 0, 488, 470, 440, 300, 200,
                                158, 130, 110, 97, 60, 45, 37 };
    return s[l + 5];
}
static double ratio(int l)
{
    static const double r[] = { 0.72, 0.70, 0.68, 0.66, 0.64, 0, 0.62, 0.605, 0.598, 0.59,
                                0.585, 0.58, 0.578, 0.575, 0.573, 0.571, 0.57, 0.568 };
    return r[l + 5];
}

/* n windows of 8 MiB through a link of link_mbs compressed MB/s; mean level.
 * The link drains the pipe while the next window is compressed, so the
 * sender waits in write only for what compressing did not cover (at least
 * a sliver: a write never takes no time). */
static double run(double link_mbs, int n, int *lo, int *hi)
{
    ss_zadapt a;
    ss_zadapt_init(&a, 1, -5, 12);
    const uint64_t in = 8u << 20;
    long sum = 0;
    *lo = *hi = 1;
    for (int i = 0; i < n; i++) {
        int l = a.level;
        assert_true(l >= -5 && l <= 12 && l != 0);
        sum += l;
        *lo = l < *lo ? l : *lo;
        *hi = l > *hi ? l : *hi;
        double comp = (double)in / speed(l) * 1e3;                      /* ns */
        double link = (double)in * ratio(l) / link_mbs * 1e3;
        double wr = link - comp > link / 50 ? link - comp : link / 50;
        ss_zadapt_step(&a, in, (uint64_t)comp, (uint64_t)wr);
    }
    return (double)sum / n;
}

/* 100 Mbit/s (12 MB/s): the wire is the limit and every stronger level
 * pays (the compressor works while the link drains); the rule climbs while
 * it waits for the link at least twice as long as it compresses: levels
 * 7..9 here (speed 60..37 MB/s against ~21 MB/s the link takes), never the
 * fast levels. */
static void test_slow_link_compresses_harder(void **state)
{
    (void)state;
    int lo, hi;
    double m = run(12, 200, &lo, &hi);
    assert_true(m >= 6.5 && m <= 10);
    assert_true(lo >= 1);
}

/* Windows that wait on the link far longer than they compress climb every
 * time, even when their throughput looks flat or worse (a noisy link), up
 * to the top, and stay there. */
static void test_link_bound_climbs_despite_noise(void **state)
{
    (void)state;
    ss_zadapt a;
    ss_zadapt_init(&a, -5, -5, 12);
    for (int i = 0; i < 40; i++) {
        /* throughput falls a little every window */
        int l = ss_zadapt_step(&a, 8u << 20, 1000000, 10000000 + 100000 * (uint64_t)i);
        assert_true(l != 0);
        if (i < 16)
            assert_int_equal(l, -5 + i + 1 + (-5 + i + 1 >= 0));
    }
    assert_int_equal(a.level, 12);
}

/* 10 Gbit/s (1,250 MB/s): compressing is the limit; the fast levels win. */
static void test_fast_link_goes_fast(void **state)
{
    (void)state;
    int lo, hi;
    double m = run(1250, 200, &lo, &hi);
    assert_true(m <= -3);
    assert_true(hi <= 2);
}

/* In between (1 Gbit/s, 120 MB/s), the cheaper end of what pays: below
 * the slow link's levels, above the fast link's. */
static void test_middle_link_in_between(void **state)
{
    (void)state;
    int lo, hi;
    double slow = run(12, 200, &lo, &hi), mid = run(120, 200, &lo, &hi),
           fast = run(1250, 200, &lo, &hi);
    assert_true(mid < slow);
    assert_true(mid > fast);
}

/* A plateau (every level equally fast): it drifts to the cheap end and
 * stays near it instead of climbing to the top. */
static void test_plateau_prefers_cheap_levels(void **state)
{
    (void)state;
    ss_zadapt a;
    ss_zadapt_init(&a, 1, -5, 12);
    int maxl = 1;
    for (int i = 0; i < 200; i++) {
        ss_zadapt_step(&a, 8u << 20, 5000000, 5000000);
        assert_true(a.level != 0);
        if (i > 20 && a.level > maxl)
            maxl = a.level;
    }
    assert_true(maxl <= 1);
}

/* A range of one level never moves, and the ends bounce. */
static void test_bounds(void **state)
{
    (void)state;
    ss_zadapt a;
    ss_zadapt_init(&a, 3, 3, 3);
    for (int i = 0; i < 10; i++)
        assert_int_equal(ss_zadapt_step(&a, 1000, 10, 10), 3);
    ss_zadapt_init(&a, 12, -5, 12);
    assert_int_equal(ss_zadapt_step(&a, 1000, 10, 10), 11);    /* up is out: bounce */
    ss_zadapt_init(&a, -1, -5, 12);
    a.dir = 1;
    assert_int_equal(ss_zadapt_step(&a, 1000, 10, 10), 1);     /* skips 0 */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_slow_link_compresses_harder),
        cmocka_unit_test(test_link_bound_climbs_despite_noise),
        cmocka_unit_test(test_fast_link_goes_fast),
        cmocka_unit_test(test_middle_link_in_between),
        cmocka_unit_test(test_plateau_prefers_cheap_levels),
        cmocka_unit_test(test_bounds),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
