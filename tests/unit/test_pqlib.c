/* test_pqlib.c — libpq is loaded on first use, not at start: not mapped
 * before ss_pqlib_load, mapped after, and its functions (through the
 * PQ* macros) work: a connection to a socket directory that does not
 * exist fails the way libpq says. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "engine/pg/pqlib.h"

static int libpq_mapped(void)
{
    FILE *f = fopen("/proc/self/maps", "r");
    assert_non_null(f);
    char line[1024];
    int found = 0;
    while (fgets(line, sizeof line, f))
        if (strstr(line, "/libpq.so"))
            found = 1;
    fclose(f);
    return found;
}

static void test_loaded_on_first_use(void **state)
{
    (void)state;
    assert_false(libpq_mapped());
    ss_err err = { 0 };
    assert_int_equal(ss_pqlib_load(&err), 0);
    assert_true(libpq_mapped());
    /* again: the same table */
    const ss_pqlib *t = ss_pqlib_get();
    assert_int_equal(ss_pqlib_load(&err), 0);
    assert_ptr_equal(ss_pqlib_get(), t);
    assert_non_null(t->PQconnectdb);
    assert_non_null(t->PQuser);
}

static void test_functions_work(void **state)
{
    (void)state;
    ss_err err = { 0 };
    assert_int_equal(ss_pqlib_load(&err), 0);
    PGconn *c = PQconnectdb("host=/nonexistent/segsync-test port=1 connect_timeout=2");
    assert_non_null(c);
    assert_int_equal(PQstatus(c), CONNECTION_BAD);
    const char *m = PQerrorMessage(c);
    assert_non_null(m);
    assert_non_null(strstr(m, "/nonexistent/segsync-test"));
    PQfinish(c);
}

int main(void)
{
    const struct CMUnitTest t[] = {
        cmocka_unit_test(test_loaded_on_first_use),
        cmocka_unit_test(test_functions_work),
    };
    return cmocka_run_group_tests(t, NULL, NULL);
}
