/* test_pg_confport.c — reading and setting the per-instance port. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "engine/pg/confport.h"

static void test_read(void **state)
{
    (void)state;
    char *v = ss_pg_conf_port("# port = 1\nport=6000 # primary\nport_x = 3\n  port = '7000'\n");
    assert_string_equal(v, "7000");
    free(v);
    assert_null(ss_pg_conf_port("#port = 5432\nlisten_addresses='*'\n"));
    v = ss_pg_conf_port("port 6001");
    assert_string_equal(v, "6001");
    free(v);
}

static void test_set(void **state)
{
    (void)state;
    char *t = ss_pg_conf_with_port("a = 1\nport = 6000 # x\n#port = 9\nport_x = 3\n", "7001");
    assert_string_equal(t, "a = 1\nport = 7001\n#port = 9\nport_x = 3\n");
    free(t);
    t = ss_pg_conf_with_port("a = 1", "7002");
    assert_string_equal(t, "a = 1\nport = 7002\n");
    char *v = ss_pg_conf_port(t);
    assert_string_equal(v, "7002");
    free(v);
    free(t);
}

int main(void)
{
    const struct CMUnitTest t[] = {
        cmocka_unit_test(test_read),
        cmocka_unit_test(test_set),
    };
    return cmocka_run_group_tests(t, NULL, NULL);
}
