/* serve.c — `segsync serve --listen ADDR:PORT --token-file FILE ROOT`: the
 * agent on TCP. One process listens; each connection is served by a child
 * process (at most SERVE_MAX_CONN at a time), which authenticates the client
 * with the token before anything is listed or read, and logs one line on
 * stderr when the connection ends. Runs until SIGTERM / SIGINT / SIGHUP. */
#include "cli/serve.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "engine/agent.h"
#include "engine/net/auth.h"
#include "engine/net/iostream.h"
#include "engine/net/msg.h"

#define SERVE_MAX_CONN 4
#define SERVE_DEFAULT_IDLE_S 300

/* "ADDR:PORT" or "[ADDR]:PORT" of a socket address. */
static void addr_name(const struct sockaddr_storage *sa, char *buf, size_t n)
{
    char a[INET6_ADDRSTRLEN] = "?";
    unsigned port = 0;
    if (sa->ss_family == AF_INET) {
        const struct sockaddr_in *s4 = (const struct sockaddr_in *)sa;
        inet_ntop(AF_INET, &s4->sin_addr, a, sizeof a);
        port = ntohs(s4->sin_port);
        snprintf(buf, n, "%s:%u", a, port);
    } else if (sa->ss_family == AF_INET6) {
        const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)sa;
        inet_ntop(AF_INET6, &s6->sin6_addr, a, sizeof a);
        port = ntohs(s6->sin6_port);
        snprintf(buf, n, "[%s]:%u", a, port);
    } else {
        snprintf(buf, n, "(unknown address)");
    }
}

static void human(char *buf, size_t n, uint64_t b)
{
    if (b >= (1u << 20))
        snprintf(buf, n, "%.1f MiB", (double)b / (1 << 20));
    else if (b >= 1024)
        snprintf(buf, n, "%.1f KiB", (double)b / 1024);
    else
        snprintf(buf, n, "%llu B", (unsigned long long)b);
}

/* The child: serve one connection, log one line, exit. */
static int serve_conn(const cli_options *o, const ss_auth_token *tok, int fd, const char *peer)
{
    ss_agent_stats st;
    ss_agent_opts ao = {
        .compress = o->compress,
        .workers = o->jobs,
        .token = tok,
        .idle_timeout_ms = (o->timeout_s ? o->timeout_s : SERVE_DEFAULT_IDLE_S) * 1000,
        .stats = &st,
    };
    ss_err err = { 0 };
    int rc = ss_agent_serve(o->source, fd, fd, &ao, &err);
    close(fd);
    char out[32];
    human(out, sizeof out, st.bytes_out);
    char files[48] = "";
    if (st.files)
        snprintf(files, sizeof files, ", %llu file requests", (unsigned long long)st.files);
    if (rc == 0)
        fprintf(stderr, "segsync serve: %s: served (%llu list, %llu range requests%s, %s sent)\n",
                peer, (unsigned long long)st.lists, (unsigned long long)st.ranges, files, out);
    else if (st.auth_failed)
        fprintf(stderr, "segsync serve: %s: refused: %s\n", peer, err.msg);
    else if (st.idle)
        fprintf(stderr, "segsync serve: %s: dropped: %s\n", peer, err.msg);
    else
        fprintf(stderr, "segsync serve: %s: failed after %llu range requests: %s\n", peer,
                (unsigned long long)st.ranges, err.msg);
    return rc == 0 ? EXIT_OK : EXIT_FAILED;
}

/* Over the limit: tell the client why (it reads an ERROR where it expects
 * HELLO), then close. Best effort, never blocks the listener. */
static void refuse_busy(int fd, const char *peer)
{
    ss_msg m;
    ss_err e;
    ss_seterr(&e, SS_ESOURCE, 0, "the agent is serving %d connections already; try again later",
              SERVE_MAX_CONN);
    ss_msg_error_set(&m, 0, &e);
    ss_wbuf w;
    ss_wbuf_init(&w, 4096);
    if (ss_msg_encode(&w, &m, &e) == 0)
        (void)!send(fd, w.p, w.len, MSG_DONTWAIT | MSG_NOSIGNAL);
    ss_wbuf_free(&w);
    shutdown(fd, SHUT_WR);
    /* Let the client's HELLO arrive so closing does not reset the
     * connection before it reads the ERROR. */
    struct pollfd p = { .fd = fd, .events = POLLIN };
    char sink[512];
    if (poll(&p, 1, 200) > 0)
        (void)!recv(fd, sink, sizeof sink, MSG_DONTWAIT);
    close(fd);
    fprintf(stderr, "segsync serve: %s: refused: %d connections are being served already\n",
            peer, SERVE_MAX_CONN);
}

static void reap(pid_t *kids, int *nkids)
{
    pid_t p;
    while ((p = waitpid(-1, NULL, WNOHANG)) > 0)
        for (int i = 0; i < *nkids; i++)
            if (kids[i] == p) {
                kids[i] = kids[--*nkids];
                break;
            }
}

int cli_serve_listen(const cli_options *o)
{
    ss_err err = { 0 };
    struct stat rst;
    if (stat(o->source, &rst) < 0 || !S_ISDIR(rst.st_mode)) {
        fprintf(stderr, "segsync serve: error: %s is not a directory\n", o->source);
        return EXIT_USAGE;
    }
    ss_auth_token tok;
    if (ss_auth_token_load(&tok, o->token_file, &err) < 0) {
        fprintf(stderr, "segsync serve: error: %s\n", err.msg);
        return EXIT_USAGE;
    }
    int lfd;
    if (ss_tcp_listen(o->listen_host, o->listen_port, &lfd, &err) < 0) {
        fprintf(stderr, "segsync serve: error: %s\n", err.msg);
        ss_auth_token_clear(&tok);
        return EXIT_USAGE;
    }
    /* Signals arrive on a descriptor: no handler, no shared state. */
    sigset_t set, old;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGHUP);
    sigaddset(&set, SIGCHLD);
    sigprocmask(SIG_BLOCK, &set, &old);
    signal(SIGPIPE, SIG_IGN);
    int sfd = signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
    if (sfd < 0) {
        fprintf(stderr, "segsync serve: error: cannot watch signals: %s\n", strerror(errno));
        close(lfd);
        ss_auth_token_clear(&tok);
        return EXIT_FAILED;
    }
    struct sockaddr_storage la;
    socklen_t ll = sizeof la;
    char lname[128] = "?";
    if (getsockname(lfd, (struct sockaddr *)&la, &ll) == 0)
        addr_name(&la, lname, sizeof lname);
    fprintf(stderr, "segsync serve: listening on %s, serving %s (at most %d connections at a "
            "time)\n", lname, o->source, SERVE_MAX_CONN);

    pid_t kids[SERVE_MAX_CONN];
    int nkids = 0, stop_sig = 0;
    while (!stop_sig) {
        struct pollfd p[2] = { { .fd = lfd, .events = POLLIN }, { .fd = sfd, .events = POLLIN } };
        if (poll(p, 2, -1) < 0) {
            if (errno == EINTR)
                continue;
            fprintf(stderr, "segsync serve: error: poll: %s\n", strerror(errno));
            break;
        }
        if (p[1].revents & POLLIN) {
            struct signalfd_siginfo si;
            while (read(sfd, &si, sizeof si) == (ssize_t)sizeof si)
                if (si.ssi_signo != SIGCHLD)
                    stop_sig = (int)si.ssi_signo;
            reap(kids, &nkids);
        }
        if (stop_sig || !(p[0].revents & POLLIN))
            continue;
        struct sockaddr_storage pa;
        socklen_t pl = sizeof pa;
        int fd = accept4(lfd, (struct sockaddr *)&pa, &pl, SOCK_CLOEXEC | SOCK_NONBLOCK);
        if (fd < 0)
            continue;       /* EAGAIN (the client went away), EMFILE: try again later */
        ss_tcp_tune(fd);
        char peer[128];
        addr_name(&pa, peer, sizeof peer);
        reap(kids, &nkids);
        if (nkids >= SERVE_MAX_CONN) {
            refuse_busy(fd, peer);
            continue;
        }
        pid_t pid = fork();
        if (pid < 0) {
            fprintf(stderr, "segsync serve: %s: refused: cannot fork: %s\n", peer,
                    strerror(errno));
            close(fd);
            continue;
        }
        if (pid == 0) {
            close(lfd);
            close(sfd);
            signal(SIGCHLD, SIG_DFL);
            sigprocmask(SIG_SETMASK, &old, NULL);
            _exit(serve_conn(o, &tok, fd, peer));
        }
        close(fd);
        kids[nkids++] = pid;
    }
    fprintf(stderr, "segsync serve: stopping (signal %d); %d connection%s ended\n", stop_sig,
            nkids, nkids == 1 ? "" : "s");
    close(lfd);
    close(sfd);
    ss_auth_token_clear(&tok);
    for (int i = 0; i < nkids; i++)
        kill(kids[i], SIGTERM);
    /* Bounded: the children die of SIGTERM at once; SIGKILL after 5 s. */
    for (int tries = 0; nkids > 0 && tries < 50; tries++) {
        reap(kids, &nkids);
        if (nkids)
            nanosleep(&(struct timespec){ 0, 100 * 1000 * 1000 }, NULL);
    }
    for (int i = 0; i < nkids; i++) {
        kill(kids[i], SIGKILL);
        waitpid(kids[i], NULL, 0);
    }
    sigprocmask(SIG_SETMASK, &old, NULL);
    return EXIT_OK;
}
