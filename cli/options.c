#include "cli/options.h"

#include <errno.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include "engine/net/iostream.h"
#include "engine/net/msg.h"
#include "engine/pathsafe.h"

void cli_usage(FILE *f)
{
    fputs(
"segsync brings a data directory in sync with its source, block by block.\n"
"\n"
"Usage:\n"
"  segsync full         [OPTION]... SOURCE TARGET\n"
"  segsync differential [OPTION]... SOURCE TARGET\n"
"  segsync incremental  [OPTION]... SOURCE TARGET\n"
"  segsync incremental  [OPTION]... --source-server=CONNINFO TARGET\n"
"  segsync verify       [OPTION]... SOURCE TARGET\n"
"  segsync serve        [--compress=...] ROOT\n"
"  segsync serve        --listen=ADDR:PORT --token-file=FILE [--timeout=S] ROOT\n"
"\n"
"Commands:\n"
"  full           make TARGET a copy of SOURCE without reading TARGET's contents\n"
"  differential   compare both trees block by block and write only what differs\n"
"  incremental    rewind a diverged former primary from its WAL: only the blocks\n"
"                 it changed, other files compared block by block (pg_rewind)\n"
"  verify         compare both trees; list what differs; change nothing\n"
"  serve          the agent: serve ROOT on stdin/stdout (started over ssh),\n"
"                 or on TCP with --listen (token authentication)\n"
"\n"
"SOURCE is a directory, or HOST:DIR on another host, reached by running\n"
"\"ssh HOST segsync serve DIR\", or segsync://HOST:PORT/DIR: an agent started\n"
"with serve --listen (DIR relative to its ROOT; / for ROOT). In PostgreSQL mode\n"
"SOURCE may be left out when --source-server is given: the server's files are\n"
"then read through that connection (pg_read_binary_file; superuser or the\n"
"pg_read_server_files role), as pg_rewind --source-server does.\n"
"\n"
"Options:\n"
"PostgreSQL mode (the default):\n"
"      --source-server=CONNINFO  the running source: take a backup bracket on it\n"
"      --slot=NAME        physical replication slot that keeps the mirror's WAL\n"
"  -R, --write-recovery-conf  write standby.signal and primary_conninfo\n"
"  -T, --tablespace-mapping=OLDDIR=NEWDIR  put a tablespace somewhere else\n"
"      --target-dbid=N    Greenplum: the mirror's dbid for tablespace locations\n"
"      --greenplum        apply Greenplum's rules (detected from internal.auto.conf)\n"
"      --checkpoint=fast|spread  backup start checkpoint (default fast)\n"
"      --differential     with full: rewrite in place, skipping identical blocks\n"
"      --fallback=differential  incremental: when the WAL cannot tell what\n"
"                         changed, say why and run a differential recovery\n"
"\n"
"General options:\n"
"      --raw              plain directories: no PostgreSQL rules; TARGET becomes\n"
"                         byte-identical to SOURCE\n"
"      --rsh=CMD          command that reaches HOST (default ssh)\n"
"      --remote-path=PATH segsync on the source host (default segsync)\n"
"      --compress=zstd[:LEVEL]|none  compression on the wire (default zstd:\n"
"                         the level adapts to the link; zstd:LEVEL fixes it)\n"
"      --token-file=FILE  shared secret for segsync:// and serve --listen (mode 600)\n"
"      --listen=ADDR:PORT serve: listen on TCP there (e.g. 127.0.0.1:7070, [::1]:7070)\n"
"      --timeout=SECONDS  connect and idle timeout (default 60; serve --listen 300)\n"
"      --max-rate=RATE    bound the transfer rate from a remote source (kB/s, or\n"
"                         with a k, M or G suffix)\n"
"  -j, --jobs=N           worker threads (default: number of cores)\n"
"      --block-size=BYTES comparison unit (default 8192)\n"
"      --io=uring|psync|auto  I/O engine (default auto: io_uring when available)\n"
"  -n, --dry-run          print what would be done; change nothing\n"
"  -P, --progress         show progress on stderr\n"
"      --json             print one JSON summary object on stdout\n"
"  -v, --verbose          print each action on stderr\n"
"  -V, --version          print the version and exit\n"
"  -h, --help             print this help and exit\n"
"\n"
"Exit status:\n"
"  0  success (verify: trees identical)\n"
"  1  verify: trees differ\n"
"  2  bad usage or arguments; nothing was changed\n"
"  3  the run failed (error printed); run it again once the cause is fixed\n"
"  4  interrupted; run it again to finish\n", f);
}

static int bad(const char *msg, const char *arg)
{
    fprintf(stderr, "segsync: error: %s%s%s\n", msg, arg ? ": " : "", arg ? arg : "");
    fprintf(stderr, "segsync: hint: try \"segsync --help\"\n");
    return -1;
}

static int parse_uint(const char *s, unsigned long long max, unsigned long long *out)
{
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || end == s || v > max)
        return -1;
    unsigned long long mul = 1;
    if (*end == 'k' || *end == 'K') mul = 1024, end++;
    else if (*end == 'm' || *end == 'M') mul = 1024 * 1024, end++;
    if (*end || v * mul > max)
        return -1;
    *out = v * mul;
    return 0;
}

/* "HOST:PORT" or "[V6ADDR]:PORT" at the start of s; *rest is what follows. */
static int split_hostport(const char *s, char *host, size_t hn, char *port, size_t pn,
                          const char **rest)
{
    const char *h = s, *he;
    if (*s == '[') {
        h = s + 1;
        he = strchr(h, ']');
        if (!he || he[1] != ':')
            return -1;
    } else {
        he = strchr(s, ':');
        if (!he)
            return -1;
    }
    size_t n = (size_t)(he - h);
    if (n == 0 || n >= hn || memchr(h, '/', n) || h[0] == '-')
        return -1;
    memcpy(host, h, n);
    host[n] = 0;
    const char *p = he + (*s == '[' ? 2 : 1);
    size_t pl = strspn(p, "0123456789");
    if (pl == 0 || pl >= pn || pl > 5 || strtoul(p, NULL, 10) == 0 ||
        strtoul(p, NULL, 10) > 65535)
        return -1;
    memcpy(port, p, pl);
    port[pl] = 0;
    *rest = p + pl;
    return 0;
}

/* segsync://HOST:PORT[/DIR]: DIR is relative to the agent's ROOT; "", "/"
 * or a trailing slash name ROOT itself. */
static int split_url(cli_options *o)
{
    const char *rest;
    if (split_hostport(o->source + 10, o->remote_host, sizeof o->remote_host, o->remote_port,
                       sizeof o->remote_port, &rest) < 0 ||
        (*rest && *rest != '/'))
        return bad("invalid SOURCE (expected segsync://HOST:PORT/DIR)", o->source);
    while (*rest == '/')
        rest++;
    size_t n = strlen(rest);
    while (n > 0 && rest[n - 1] == '/')
        n--;
    if (n >= sizeof o->remote_subdir)
        return bad("DIR in segsync://HOST:PORT/DIR is too long", NULL);
    char *dir = o->remote_subdir;
    memcpy(dir, rest, n);
    dir[n] = 0;
    if (*dir && !ss_path_is_safe(dir)) {
        return bad("DIR in segsync://HOST:PORT/DIR must be beneath the agent's root "
                   "(no \"..\", \".\" or empty components)", o->source);
    }
    o->remote_dir = dir;
    if (!o->token_file)
        return bad("a segsync:// source needs --token-file=FILE (the agent's token)", NULL);
    if (o->block_size > SS_NET_MAX_BLOCK)
        return bad("--block-size above 1M is not available with a remote source", NULL);
    return 0;
}

/* SOURCE is HOST:DIR when a colon comes before the first slash (as rsync
 * reads it); "HOST:" alone is the agent's working directory. */
static int split_remote(cli_options *o)
{
    if (!strncmp(o->source, "segsync://", 10))
        return split_url(o);
    if (o->token_file)
        return bad("--token-file applies to a segsync:// source or serve --listen", NULL);
    const char *colon = strchr(o->source, ':');
    const char *slash = strchr(o->source, '/');
    if (!colon || (slash && slash < colon))
        return o->max_rate ? bad("--max-rate applies to a remote source", NULL) : 0;
    size_t n = (size_t)(colon - o->source);
    if (n == 0 || n >= sizeof o->remote_host)
        return bad("invalid HOST in HOST:DIR", o->source);
    memcpy(o->remote_host, o->source, n);
    o->remote_host[n] = 0;
    o->remote_dir = colon[1] ? colon + 1 : ".";
    if (o->remote_host[0] == '-')
        return bad("invalid HOST in HOST:DIR", o->source);
    if (o->block_size > SS_NET_MAX_BLOCK)
        return bad("--block-size above 1M is not available with a HOST:DIR source", NULL);
    return 0;
}

/* A long option without a short form, apart from the enum below. */
#define OPT_FALLBACK 0x1000

int cli_parse(int argc, char **argv, cli_options *o)
{
    memset(o, 0, sizeof *o);
    o->io = SS_IO_AUTO;
    o->block_size = 8192;
    o->fast_checkpoint = 1;
    o->greenplum = -1;
    o->compress = (ss_zopt){ SS_Z_ZSTD, SS_Z_DEFAULT_LEVEL, 1 };
    enum { OPT_RAW = 256, OPT_BS, OPT_IO, OPT_JSON, OPT_SERVER, OPT_SLOT, OPT_CKPT, OPT_DIFF,
           OPT_DBID, OPT_GP, OPT_RSH, OPT_RPATH, OPT_COMPRESS, OPT_LISTEN, OPT_TOKEN,
           OPT_TIMEOUT, OPT_MAXRATE };
    static const struct option longopts[] = {
        { "raw", no_argument, NULL, OPT_RAW },
        { "jobs", required_argument, NULL, 'j' },
        { "block-size", required_argument, NULL, OPT_BS },
        { "io", required_argument, NULL, OPT_IO },
        { "dry-run", no_argument, NULL, 'n' },
        { "progress", no_argument, NULL, 'P' },
        { "json", no_argument, NULL, OPT_JSON },
        { "verbose", no_argument, NULL, 'v' },
        { "version", no_argument, NULL, 'V' },
        { "help", no_argument, NULL, 'h' },
        { "source-server", required_argument, NULL, OPT_SERVER },
        { "slot", required_argument, NULL, OPT_SLOT },
        { "write-recovery-conf", no_argument, NULL, 'R' },
        { "tablespace-mapping", required_argument, NULL, 'T' },
        { "checkpoint", required_argument, NULL, OPT_CKPT },
        { "differential", no_argument, NULL, OPT_DIFF },
        { "target-dbid", required_argument, NULL, OPT_DBID },
        { "greenplum", no_argument, NULL, OPT_GP },
        { "fallback", required_argument, NULL, OPT_FALLBACK },
        { "rsh", required_argument, NULL, OPT_RSH },
        { "remote-path", required_argument, NULL, OPT_RPATH },
        { "compress", required_argument, NULL, OPT_COMPRESS },
        { "listen", required_argument, NULL, OPT_LISTEN },
        { "token-file", required_argument, NULL, OPT_TOKEN },
        { "timeout", required_argument, NULL, OPT_TIMEOUT },
        { "max-rate", required_argument, NULL, OPT_MAXRATE },
        { NULL, 0, NULL, 0 },
    };
    if (argc < 2)
        return bad("no command given", NULL);
    const char *cmd = argv[1];
    if (!strcmp(cmd, "--help") || !strcmp(cmd, "-h")) {
        o->help = 1;
        return 0;
    }
    if (!strcmp(cmd, "--version") || !strcmp(cmd, "-V")) {
        o->version = 1;
        return 0;
    }
    if (!strcmp(cmd, "full")) o->cmd = CMD_FULL;
    else if (!strcmp(cmd, "differential")) o->cmd = CMD_DIFFERENTIAL;
    else if (!strcmp(cmd, "incremental")) o->cmd = CMD_INCREMENTAL;
    else if (!strcmp(cmd, "verify")) o->cmd = CMD_VERIFY;
    else if (!strcmp(cmd, "serve")) o->cmd = CMD_SERVE;
    else return bad("unknown command", cmd);
    o->cmd_name = cmd;

    optind = 2;
    opterr = 0;
    int c;
    unsigned long long v;
    while ((c = getopt_long(argc, argv, ":j:nPvVhRT:", longopts, NULL)) != -1) {
        switch (c) {
        case OPT_RAW: o->raw = 1; break;
        case 'j':
            if (parse_uint(optarg, 1024, &v) < 0 || v == 0)
                return bad("invalid --jobs (expected 1..1024)", optarg);
            o->jobs = (unsigned)v;
            break;
        case OPT_BS:
            if (parse_uint(optarg, 16u << 20, &v) < 0 || v < 512)
                return bad("invalid --block-size (expected 512 bytes to 16M)", optarg);
            o->block_size = (uint32_t)v;
            o->block_size_set = 1;
            break;
        case OPT_IO: {
            int k = ss_io_kind_parse(optarg);
            if (k < 0)
                return bad("invalid --io (expected uring, psync or auto)", optarg);
            o->io = (ss_io_kind)k;
            break;
        }
        case 'n': o->dry_run = 1; break;
        case 'P': o->progress = 1; break;
        case OPT_JSON: o->json = 1; break;
        case 'v': o->verbose++; break;
        case OPT_SERVER: o->source_server = optarg; break;
        case OPT_SLOT:
            if (!*optarg || strspn(optarg, "abcdefghijklmnopqrstuvwxyz0123456789_") != strlen(optarg))
                return bad("invalid --slot (lower-case letters, digits and underscores)", optarg);
            o->slot = optarg;
            break;
        case 'R': o->write_recovery_conf = 1; break;
        case 'T': {
            char *eq = strchr(optarg, '=');
            if (!eq || eq == optarg || !eq[1] || optarg[0] != '/' || eq[1] != '/' ||
                o->nmaps == sizeof o->maps / sizeof o->maps[0])
                return bad("invalid --tablespace-mapping (expected /OLDDIR=/NEWDIR)", optarg);
            *eq = 0;
            o->maps[o->nmaps].old_dir = optarg;
            o->maps[o->nmaps++].new_dir = eq + 1;
            break;
        }
        case OPT_CKPT:
            if (!strcmp(optarg, "fast")) o->fast_checkpoint = 1;
            else if (!strcmp(optarg, "spread")) o->fast_checkpoint = 0;
            else return bad("invalid --checkpoint (expected fast or spread)", optarg);
            break;
        case OPT_DIFF: o->in_place = 1; break;
        case OPT_DBID:
            if (parse_uint(optarg, 1000000, &v) < 0 || v == 0)
                return bad("invalid --target-dbid", optarg);
            o->target_dbid = (int)v;
            break;
        case OPT_GP: o->greenplum = 1; break;
        case OPT_FALLBACK:
            if (strcmp(optarg, "differential") != 0)
                return bad("invalid --fallback (expected differential)", optarg);
            o->fallback_differential = 1;
            break;
        case OPT_RSH:
            if (!optarg[strspn(optarg, " \t")])
                return bad("empty --rsh", NULL);
            o->rsh = optarg;
            break;
        case OPT_RPATH:
            if (!*optarg)
                return bad("empty --remote-path", NULL);
            o->remote_path = optarg;
            break;
        case OPT_COMPRESS: {
            ss_err e;
            if (ss_zopt_parse(optarg, &o->compress, &e) < 0)
                return bad(e.msg, NULL);
            break;
        }
        case OPT_LISTEN: {
            const char *rest;
            if (split_hostport(optarg, o->listen_host, sizeof o->listen_host, o->listen_port,
                               sizeof o->listen_port, &rest) < 0 || *rest)
                return bad("invalid --listen (expected ADDR:PORT, e.g. 127.0.0.1:7070 or "
                           "[::1]:7070)", optarg);
            break;
        }
        case OPT_TOKEN:
            if (!*optarg)
                return bad("empty --token-file", NULL);
            o->token_file = optarg;
            break;
        case OPT_TIMEOUT:
            if (parse_uint(optarg, 86400, &v) < 0 || v == 0 || strpbrk(optarg, "kKmM"))
                return bad("invalid --timeout (expected 1..86400 seconds)", optarg);
            o->timeout_s = (int)v;
            break;
        case OPT_MAXRATE: {
            ss_err e;
            if (ss_rate_parse(optarg, &o->max_rate, &e) < 0)
                return bad(e.msg, NULL);
            break;
        }
        case 'V': o->version = 1; return 0;
        case 'h': o->help = 1; return 0;
        case ':': return bad("option needs a value", argv[optind - 1]);
        default: return bad("unknown option", argv[optind - 1]);
        }
    }
    int nargs = argc - optind;
    if (o->cmd == CMD_SERVE) {
        if (nargs != 1)
            return bad(nargs < 1 ? "ROOT is required" : "too many arguments",
                       nargs > 1 ? argv[optind + 1] : NULL);
        o->source = argv[optind];
        if (o->listen_host[0] && !o->token_file)
            return bad("serve --listen needs --token-file=FILE", NULL);
        if (o->token_file && !o->listen_host[0])
            return bad("--token-file applies to serve --listen (over ssh the login "
                       "authenticates)", NULL);
        if (o->max_rate)
            return bad("--max-rate applies to the client (the side that receives)", NULL);
        return *o->source ? 0 : bad("empty path given", NULL);
    }
    if (o->listen_host[0])
        return bad("--listen applies to serve", NULL);
    if (nargs == 1 && o->source_server && !o->raw && o->cmd != CMD_VERIFY) {
        /* No SOURCE: the server's files are read through its connection
         * (pg_read_binary_file), as pg_rewind --source-server does. */
        o->via_libpq = 1;
        o->source = "server (libpq)";   /* for messages and --json */
        o->target = argv[optind];
        if (!*o->target)
            return bad("empty path given", NULL);
        if (o->max_rate)
            return bad("--max-rate applies to a HOST:DIR or segsync:// source", NULL);
        return 0;
    }
    if (nargs != 2)
        return bad(nargs < 2 ? "SOURCE and TARGET are required" : "too many arguments",
                   nargs > 2 ? argv[optind + 2] : NULL);
    o->source = argv[optind];
    o->target = argv[optind + 1];
    if (!*o->source || !*o->target)
        return bad("empty path given", NULL);
    if (o->raw && (o->source_server || o->slot || o->write_recovery_conf || o->nmaps || o->target_dbid))
        return bad("PostgreSQL options (--source-server, --slot, -R, -T, --target-dbid) do not apply with --raw", NULL);
    if (o->in_place && o->cmd != CMD_FULL)
        return bad("--differential only applies to \"full\"", NULL);
    if (o->slot && !o->source_server)
        return bad("--slot needs --source-server", NULL);
    if (o->fallback_differential && o->cmd != CMD_INCREMENTAL)
        return bad("--fallback only applies to \"incremental\"", NULL);
    if (o->raw && o->cmd == CMD_INCREMENTAL)
        return bad("incremental reads PostgreSQL WAL; it does not apply with --raw", NULL);
    return split_remote(o);
}
