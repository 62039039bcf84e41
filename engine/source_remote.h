/*
 * source_remote.h — a source served by `segsync serve` over a byte stream.
 *
 * list() asks the agent for the tree; range() (called concurrently by the
 * engine's workers) sends the target's signatures in a RANGE_REQ with a
 * unique id and waits for the agent's RANGE_DATA runs, which one reader
 * thread demultiplexes into the waiting worker's buffer. Every run's XXH3
 * is checked before it reaches the sink. Errors from the agent read
 * "source HOST: ..."; a dropped connection or a dead agent fails every
 * waiting call with a clear message (nothing hangs).
 *
 * With an agent of this version (SS_CAP_EXT, SS_CAP_KEEPALIVE) the session
 * also serves PostgreSQL mode: whole small files, subtree views with
 * client-side filters and live semantics, tablespaces (functions at the
 * end); and both sides PING each other after a spell of silence, so the
 * idle timeout (--timeout) fires only when the agent or the link is gone,
 * also while nothing is asked (docs/protocol.md, Keepalive).
 */
#ifndef SEGSYNC_SOURCE_REMOTE_H
#define SEGSYNC_SOURCE_REMOTE_H

#include <sys/types.h>

#include <stdint.h>

#include "engine/net/auth.h"
#include "engine/net/zstream.h"
#include "engine/source.h"

/* How a session with an agent behaves, whatever carries it. */
typedef struct {
    ss_zopt compress;
    /* Authenticate with this token after the HELLOs (TCP); NULL = none. */
    const ss_auth_token *token;
    /* No byte from the agent for this long fails the session ("no data
     * from the agent for N s"); 0 = no limit. The agent answers keepalive
     * PINGs, so silence means it is gone; with an older agent (no
     * SS_CAP_KEEPALIVE) only silence while something is asked counts. */
    int idle_timeout_ms;
    /* --max-rate: the client reads (and writes) at most this many bytes per
     * second; TCP / pipe flow control makes the agent send no faster.
     * 0 = unlimited. */
    uint64_t max_rate;
    /* Serve the tree under this subtree of the agent's ROOT (relative, no
     * ".."); NULL or "" = ROOT itself. */
    const char *subdir;
} ss_remote_opts;

/* A session with an agent already running at the other end of rfd / wfd
 * (the source owns and closes them). `name` is used in messages
 * ("source NAME: ..."). Runs the HELLO exchange before returning. */
int ss_source_remote_open(ss_source **out, const char *name, int rfd, int wfd,
                          const ss_zopt *compress, ss_err *err);
/* The same with every option; authentication (when o->token) is done
 * before returning: a refused token is "source NAME: authentication
 * failed ...". */
int ss_source_remote_open_opts(ss_source **out, const char *name, int rfd, int wfd,
                               const ss_remote_opts *o, ss_err *err);

/* Connect to a listening agent (`segsync serve --listen`) at host:port
 * within connect_timeout_ms and open an authenticated session. Messages
 * name the source "HOST:PORT" ("[HOST]:PORT" for an IPv6 address). */
int ss_source_remote_connect(ss_source **out, const char *host, const char *port,
                             int connect_timeout_ms, const ss_remote_opts *o, ss_err *err);

typedef struct {
    const char *host;
    const char *dir;            /* on the agent's host */
    const char *rsh;            /* command, split on blanks; NULL = "ssh" */
    const char *remote_path;    /* the agent binary there; NULL = "segsync" */
    ss_zopt compress;
    int idle_timeout_ms;        /* as in ss_remote_opts */
    uint64_t max_rate;
} ss_remote_spec;

/* ---- PostgreSQL mode over the agent --------------------------------------
 * Both functions take a base source (ss_source_remote_open / _open_opts /
 * _connect / _spawn), or a view made by ss_source_remote_subtree; paths
 * are relative to that source's tree (the view's subtree; the base's DIR).
 * They need an agent that announced SS_CAP_EXT (this version); an older
 * one gets "the agent is too old ...". Both are safe to call while range()
 * requests are in flight from the engine's workers. */

/* Read a whole regular file below the served tree in one round trip:
 * 0 read (*buf malloc'd, NUL-terminated after *len bytes; the caller frees
 * it), 1 it does not exist (ENOENT, also when a parent directory is
 * missing), -1 error: larger than max (max is capped at SS_NET_MAX_CHUNK,
 * 16 MiB), not a regular file, unreadable, the session failed. */
int ss_source_remote_read_file(ss_source *s, const char *path, size_t max, void **buf,
                               size_t *len, ss_err *err);

/* No more requests will be made of this session (s: a base source or a
 * view): END is sent and our side closed now, so the agent and its
 * transport wind down while the caller finishes its own work (the
 * target's syncfs); destroy() still waits for them. Any later request
 * fails. Call from the thread that owns the base source, after the last
 * request has returned. */
void ss_source_remote_finish(ss_source *s);

/* A view of the same session (no new connection) over the subtree `sub`
 * ("" or NULL = the whole tree of s): list() lists it (entries relative to
 * it, root = the subtree's directory), range() paths are relative to it.
 *
 * wo (may be NULL) is applied to the listing on this side exactly as
 * ss_walk applies it: filter(ctx, path, st) with a struct stat made from
 * the entry (st_mode = file type bits | permission bits, st_size, st_mtim,
 * st_uid, st_gid, st_nlink 1, 2 for a directory; sockets, fifos and devices
 * all look like sockets); a directory refused by filter drops its contents
 * unseen; sockets, fifos and devices are reported to `skipped` and left out
 * unless keep_other; finish runs last over the sorted list. wo is copied,
 * its ctx must outlive the view.
 *
 * live: the source is a running server inside a backup bracket (as
 * ss_source_local_set_live): range() returns 1 for a file that no longer
 * exists, pads a file that shrank with zeros to the listed size and ignores
 * growth past it; without live these are errors.
 *
 * A tablespace: on an agent whose tree is a PostgreSQL data directory,
 * sub = "pg_tblspc/<oid>" serves the directory that link points to (the
 * agent follows exactly that link; see docs/protocol.md).
 *
 * destroy() frees only the view; the base source must outlive its views.
 * wire_bytes() of a view is the whole session's count (the base's). copy_to
 * is NULL. list() calls on views of one session are serialized. */
int ss_source_remote_subtree(ss_source *s, const char *sub, const ss_walk_opts *wo, int live,
                             ss_source **out, ss_err *err);

/* Start `RSH HOST REMOTE_PATH serve --compress=... -- DIR` (argv built
 * here, no local shell; the remote shell that ssh runs sees DIR quoted)
 * and open a session over its stdin/stdout. The child is reaped by
 * destroy. */
int ss_source_remote_spawn(ss_source **out, const ss_remote_spec *spec, ss_err *err);

#endif
