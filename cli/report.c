#include "cli/report.h"

#include <string.h>

void cli_report_init(cli_report *r, const cli_options *opt)
{
    memset(r, 0, sizeof *r);
    pthread_mutex_init(&r->mu, NULL);
    r->opt = opt;
    /* With --json, stdout belongs to the summary object alone. */
    r->plan_out = opt->json ? stderr : stdout;
}

void cli_report_destroy(cli_report *r) { pthread_mutex_destroy(&r->mu); }

void cli_put_path(FILE *f, const char *path)
{
    for (const unsigned char *p = (const unsigned char *)path; *p; p++) {
        if (*p == '\\')
            fputs("\\\\", f);
        else if (*p == '\n')
            fputs("\\n", f);
        else if (*p == '\t')
            fputs("\\t", f);
        else if (*p < 0x20 || *p == 0x7f)
            fprintf(f, "\\%03o", *p);
        else
            fputc(*p, f);
    }
}

static void json_str(FILE *f, const char *s)
{
    fputc('"', f);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '"' || *p == '\\')
            fprintf(f, "\\%c", *p);
        else if (*p < 0x20)
            fprintf(f, "\\u%04x", *p);
        else
            fputc(*p, f);
    }
    fputc('"', f);
}

void cli_human_bytes(char *buf, size_t n, double b)
{
    const char *u[] = { "B", "KiB", "MiB", "GiB", "TiB" };
    int i = 0;
    while (b >= 1024 && i < 4)
        b /= 1024, i++;
    snprintf(buf, n, i ? "%.1f %s" : "%.0f %s", b, u[i]);
}

void cli_report_event(void *ctx, const ss_event *ev)
{
    cli_report *r = ctx;
    const cli_options *o = r->opt;
    FILE *f;
    if (ev->kind == SS_EV_DIFFERS)
        f = r->plan_out;
    else if (ev->kind == SS_EV_SKIPPED || o->verbose)
        f = stderr;
    else if (o->dry_run)
        f = r->plan_out;
    else
        return;
    pthread_mutex_lock(&r->mu);
    if (ev->kind == SS_EV_DIFFERS) {
        r->differences++;
        fputs("differs: ", f);
        cli_put_path(f, ev->path);
        if (ev->detail)
            fprintf(f, " (%s)", ev->detail);
    } else if (ev->kind == SS_EV_SKIPPED) {
        fputs("segsync: warning: skipped ", f);
        cli_put_path(f, ev->path);
        if (ev->detail)
            fprintf(f, ": %s", ev->detail);
    } else {
        fprintf(f, "%s%s ", o->dry_run ? "would " : "", ss_act_name(ev->act));
        cli_put_path(f, ev->path);
        if (ev->act == SS_ACT_SYMLINK && ev->detail) {
            fputs(" -> ", f);
            cli_put_path(f, ev->detail);
        } else if (ev->act == SS_ACT_COPY) {
            fprintf(f, " (%llu bytes)", (unsigned long long)ev->bytes);
        } else if (ev->act == SS_ACT_UPDATE) {
            fprintf(f, " (%llu blocks, %llu bytes%s%s)", (unsigned long long)ev->blocks,
                    (unsigned long long)ev->bytes, ev->detail ? ", " : "", ev->detail ? ev->detail : "");
        }
    }
    fputc('\n', f);
    pthread_mutex_unlock(&r->mu);
}

void cli_report_skipped(void *ctx, const char *path, const char *why)
{
    ss_event ev = { .kind = SS_EV_SKIPPED, .path = path, .detail = why };
    cli_report_event(ctx, &ev);
}

void cli_print_json(FILE *f, const cli_options *o, const ss_counters *c,
                    const cli_summary_extra *x, unsigned long differences)
{
#define U(name) fprintf(f, ",\"" #name "\":%llu", (unsigned long long)atomic_load(&c->name))
    fputs("{\"mode\":", f);
    json_str(f, o->cmd_name);
    fprintf(f, ",\"raw\":%s,\"dry_run\":%s,\"status\":", o->raw ? "true" : "false",
            o->dry_run ? "true" : "false");
    json_str(f, x->status);
    if (x->error) {
        fputs(",\"error\":", f);
        json_str(f, x->error);
    }
    fputs(",\"source\":", f);
    json_str(f, o->source);
    fputs(",\"target\":", f);
    json_str(f, o->target);
    U(bytes_total);
    U(bytes_done);
    U(bytes_transferred);
    fprintf(f, ",\"bytes_on_wire\":%llu", x->bytes_on_wire);
    U(bytes_written);
    U(files_total);
    U(files_copied);
    U(files_updated);
    U(files_deleted);
    U(dirs_created);
    U(links_created);
    U(blocks_changed);
    U(entries_skipped);
    fprintf(f, ",\"differences\":%lu,\"block_size\":%u,\"jobs\":%u,\"io\":", differences,
            atomic_load(&c->block_size) ? atomic_load(&c->block_size) : o->block_size, x->jobs);
    json_str(f, x->io);
    if (x->outcome) {
        fputs(",\"outcome\":", f);
        json_str(f, x->outcome);
    }
    if (x->reason) {
        fputs(",\"fallback_reason\":", f);
        json_str(f, x->reason);
    }
    fprintf(f, ",\"elapsed_s\":%.3f}\n", x->elapsed_s);
#undef U
}
