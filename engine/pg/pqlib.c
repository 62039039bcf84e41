/* pqlib.c — load libpq on first use (see pqlib.h for why). */
#include "engine/pg/pqlib.h"

#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>

typedef struct {
    pthread_once_t once;
    ss_pqlib fn;
    int ok;
    char why[256];
} pqlib_state;

/* Written once, by load() under pthread_once; read-only after. */
static pqlib_state g_pq = { .once = PTHREAD_ONCE_INIT };

static void load(void)
{
    void *h = dlopen(SS_PQLIB_SONAME, RTLD_NOW | RTLD_LOCAL);
    if (!h) {
        const char *e = dlerror();
        snprintf(g_pq.why, sizeof g_pq.why, "%s", e ? e : SS_PQLIB_SONAME ": not found");
        return;
    }
    /* dlsym's void * to a function pointer: POSIX guarantees it works. */
#define SS_PQLIB_RESOLVE(f) \
    if (!(*(void **)&g_pq.fn.f = dlsym(h, #f))) { \
        snprintf(g_pq.why, sizeof g_pq.why, "%s has no %s", SS_PQLIB_SONAME, #f); \
        dlclose(h); \
        return; \
    }
    SS_PQLIB_FUNCS(SS_PQLIB_RESOLVE)
#undef SS_PQLIB_RESOLVE
    /* Never unloaded: connections may live until the process ends. */
    g_pq.ok = 1;
}

int ss_pqlib_load(ss_err *err)
{
    pthread_once(&g_pq.once, load);
    if (!g_pq.ok)
        return ss_seterr(err, SS_EINTERNAL, 0,
                         "cannot load libpq, needed to reach the source server (%s); "
                         "install the libpq5 package", g_pq.why);
    return 0;
}

const ss_pqlib *ss_pqlib_get(void)
{
    return &g_pq.fn;
}
