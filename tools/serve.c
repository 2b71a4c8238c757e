/*
 * serve.c — `ctrprof serve`: the profiles of the given files over HTTP, with the paths and
 * semantics of Go's net/http/pprof (so Parca, Pyroscope/Alloy and `go tool pprof` scrape
 * it as they scrape a Go service) and a Prometheus /metrics. The HTTP side only: routing,
 * query values, limits; serve_data.c makes the bodies. Offline context: a normal
 * multi-threaded program (libmicrohttpd, one thread per connection).
 *
 *   ctrprof serve [--listen ADDR:PORT] [--metrics-top N] [--max-conns N] [--timeout S]
 *                 [--debug-dir DIR[:DIR...]] FILE|DIR...
 *
 * Safe to expose (what guards what):
 *  - binds 127.0.0.1:6060 unless --listen says otherwise;
 *  - the URL selects one of a fixed set of answers by exact string comparison: no part of
 *    it reaches a path (serve_data.c reads only the files and directories given);
 *  - libmicrohttpd parses HTTP and query strings (no parser of ours); headers beyond
 *    32 KiB per connection are refused by it (431); a request with a body is refused
 *    before the body is read (413), any method but GET/HEAD too (405);
 *  - at most --max-conns connections (default 64), half of them from one address; more
 *    are closed at accept;
 *  - a connection idle for --timeout seconds (default 10) is closed by libmicrohttpd; as
 *    its timer restarts on every byte, a reaper thread of ours also shuts down a connection
 *    whose request has not arrived complete within --timeout of the connection or of its
 *    previous response (a slowloris trickle);
 *  - ?seconds=N deltas wait without holding anything but their own connection: N is at
 *    most 300 and at most a quarter of --max-conns of them run at once (503 beyond);
 *    /metrics says how many are between their two snapshots (ctrprof_serve_delta_windows,
 *    g_windows: a client or a test can see that its window is open).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <microhttpd.h>
#include <netdb.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "cmds.h"
#include "serve.h"
#include "snapshot.h"
#include "symbolize.h"

#define MAX_SECONDS 300
#define HEADER_LIMIT 32768

static void usage(FILE *f)
{
    fputs(
        "usage: ctrprof serve [options] FILE|DIR...\n"
        "  --listen ADDR:PORT      where to listen (default 127.0.0.1:6060; [::1]:PORT for IPv6;\n"
        "                          port 0 picks a free one, printed on standard output)\n"
        "  --metrics-top N         top sites per profile as labelled series in /metrics (default "
        "20)\n"
        "  --max-conns N           concurrent connections (default 64; half of them per address)\n"
        "  --timeout SECONDS       a request must arrive within this (default 10)\n"
        "  --debug-dir DIR[:DIR...] also look there for separate debug files\n"
        "Serves /debug/pprof/{heap,allocs,mutex,block} (?seconds=N, ?debug=1) and /metrics.\n"
        "A DIR means the *.count (and packed *.count.zst) files in it, listed again for every\n"
        "request.\n",
        f);
}

/* ---- connections: the reaper's table ------------------------------------------------- */

struct conn {
    int used, busy; /* busy: a request is being answered */
    int fd;
    time_t since; /* connected, or answered its last request */
};

static struct conn *g_conns;
static size_t g_nconns;
static pthread_mutex_t g_clock = PTHREAD_MUTEX_INITIALIZER;
static unsigned g_timeout = 10, g_maxconns = 64;
static int g_deltas;  /* running ?seconds= requests, under g_clock */
static int g_windows; /* of those, the ones between their two snapshots (a gauge in
                       * /metrics: a client can tell its window is open) */

static time_t now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec;
}

static void on_conn(void *cls, struct MHD_Connection *c, void **sock_ctx,
                    enum MHD_ConnectionNotificationCode code)
{
    pthread_mutex_lock(&g_clock);
    if (code == MHD_CONNECTION_NOTIFY_STARTED) {
        const union MHD_ConnectionInfo *ci =
            MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
        *sock_ctx = NULL;
        for (size_t i = 0; ci && i < g_nconns; i++)
            if (!g_conns[i].used) {
                g_conns[i] = (struct conn){1, 0, ci->connect_fd, now()};
                *sock_ctx = &g_conns[i];
                break;
            }
    } else if (*sock_ctx) { /* closed: before libmicrohttpd closes the descriptor */
        ((struct conn *)*sock_ctx)->used = 0;
        *sock_ctx = NULL;
    }
    pthread_mutex_unlock(&g_clock);
}

static struct conn *conn_of(struct MHD_Connection *c)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(c, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
    return ci ? ci->socket_context : NULL;
}

static void on_done(void *cls, struct MHD_Connection *c, void **req_ctx,
                    enum MHD_RequestTerminationCode toe)
{
    pthread_mutex_lock(&g_clock);
    struct conn *k = conn_of(c);
    if (k && k->used) {
        k->busy = 0;
        k->since = now();
    }
    pthread_mutex_unlock(&g_clock);
}

static volatile int g_stop;

static void *reaper(void *arg)
{
    while (!g_stop) {
        sleep(1);
        time_t t = now();
        pthread_mutex_lock(&g_clock);
        for (size_t i = 0; i < g_nconns; i++)
            if (g_conns[i].used && !g_conns[i].busy && t - g_conns[i].since >= (time_t)g_timeout) {
                shutdown(g_conns[i].fd, SHUT_RDWR); /* libmicrohttpd sees the end and closes it */
                g_conns[i].since = t;               /* once a timeout is enough */
            }
        pthread_mutex_unlock(&g_clock);
    }
    return NULL;
}

/* ---- requests ------------------------------------------------------------------------ */

static enum MHD_Result reply(struct MHD_Connection *c, int status, const char *ctype, char *body,
                             size_t n, const char *disposition)
{
    struct MHD_Response *r = MHD_create_response_from_buffer(n, body, MHD_RESPMEM_MUST_FREE);
    if (!r) {
        free(body);
        return MHD_NO;
    }
    MHD_add_response_header(r, "Content-Type", ctype);
    MHD_add_response_header(r, "X-Content-Type-Options", "nosniff");
    if (disposition)
        MHD_add_response_header(r, "Content-Disposition", disposition);
    if (status == 405)
        MHD_add_response_header(r, "Allow", "GET, HEAD");
    if (status == 301)
        MHD_add_response_header(r, "Location", "/debug/pprof/");
    enum MHD_Result rc = MHD_queue_response(c, (unsigned)status, r);
    MHD_destroy_response(r);
    return rc;
}

static enum MHD_Result text(struct MHD_Connection *c, int status, const char *msg)
{
    return reply(c, status, "text/plain; charset=utf-8", strdup(msg), strlen(msg), NULL);
}

/* A query value that must be a small non-negative integer: -1 if absent, -2 if not one. */
static long query_uint(struct MHD_Connection *c, const char *name)
{
    const char *v = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, name);
    if (!v)
        return -1;
    long n = 0;
    size_t i = 0;
    for (; v[i] >= '0' && v[i] <= '9' && i < 9; i++)
        n = n * 10 + (v[i] - '0');
    return i == 0 || v[i] ? -2 : n;
}

/* /metrics with the server's own gauge of open ?seconds= windows appended (not part of
 * the data side's cached body: it changes without the files changing) */
static enum MHD_Result reply_windows(struct MHD_Connection *c, struct cp_srv_body *b)
{
    char line[192];
    pthread_mutex_lock(&g_clock);
    int w = g_windows;
    pthread_mutex_unlock(&g_clock);
    int k = snprintf(line, sizeof line,
                     "# HELP ctrprof_serve_delta_windows ?seconds= requests between their two "
                     "snapshots\n# TYPE ctrprof_serve_delta_windows gauge\n"
                     "ctrprof_serve_delta_windows %d\n",
                     w);
    char *p = b->status == 200 && k > 0 ? realloc(b->p, b->n + (size_t)k) : NULL;
    if (p) {
        memcpy(p + b->n, line, (size_t)k);
        b->p = p;
        b->n += (size_t)k;
    }
    return reply(c, b->status, b->ctype, b->p, b->n, NULL);
}

static const char *const kinds[4] = {"heap", "allocs", "mutex", "block"};

static enum MHD_Result index_page(struct MHD_Connection *c)
{
    char *p;
    size_t n;
    FILE *f = open_memstream(&p, &n);
    fprintf(
        f,
        "<html>\n<head>\n<title>/debug/pprof/</title>\n</head>\n<body>\n/debug/pprof/<br>\n<br>\n"
        "ctrprof serve: %zu profile files<br>\n<br>\nTypes of profiles available:\n<table>\n"
        "<thead><td>Profile</td></thead>\n",
        cp_srv_nfiles());
    for (int i = 0; i < 4; i++)
        fprintf(f, "<tr><td><a href='%s?debug=1'>%s</a></td></tr>\n", kinds[i], kinds[i]);
    fputs("</table>\n<br>\n<a href='/metrics'>/metrics</a> (Prometheus)\n</body>\n</html>\n", f);
    fclose(f);
    return reply(c, 200, "text/html; charset=utf-8", p, n, NULL);
}

static enum MHD_Result profile(struct MHD_Connection *c, int kind)
{
    long debug = query_uint(c, "debug"), secs = query_uint(c, "seconds");
    if (debug < 0)
        debug = 0; /* Go: strconv.Atoi's error is ignored */
    struct cp_snapset *base = NULL;
    if (secs != -1) {
        if (secs <= 0)
            return text(c, 400, "invalid value for \"seconds\" - must be a positive integer\n");
        if (secs > MAX_SECONDS)
            return text(c, 400, "profile duration exceeds server's WriteTimeout\n");
        if (debug)
            return text(c, 400, "seconds and debug params are incompatible\n");
        pthread_mutex_lock(&g_clock);
        int ok = g_deltas < (int)(g_maxconns / 4 ? g_maxconns / 4 : 1);
        g_deltas += ok;
        pthread_mutex_unlock(&g_clock);
        if (!ok)
            return text(c, 503, "too many ?seconds= requests at once\n");
        base = cp_srv_snapshot();
        pthread_mutex_lock(&g_clock);
        g_windows++;
        pthread_mutex_unlock(&g_clock);
        for (long s = 0; s < secs && !g_stop; s++)
            sleep(1);
        pthread_mutex_lock(&g_clock);
        g_windows--;
        pthread_mutex_unlock(&g_clock);
    }
    struct cp_srv_body b = {0};
    cp_srv_profile((enum cp_srv_kind)kind, (int)debug, base, &b);
    if (base) {
        cp_snapset_free(base);
        pthread_mutex_lock(&g_clock);
        g_deltas--;
        pthread_mutex_unlock(&g_clock);
    }
    char disp[64];
    snprintf(disp, sizeof disp, "attachment; filename=\"%s%s\"", secs > 0 ? "delta-" : "",
             kinds[kind]);
    return reply(c, b.status, b.ctype, b.p, b.n, debug ? NULL : disp);
}

static enum MHD_Result handle(void *cls, struct MHD_Connection *c, const char *url,
                              const char *method, const char *version, const char *upload,
                              size_t *upload_size, void **req_ctx)
{
    pthread_mutex_lock(&g_clock);
    struct conn *k = conn_of(c);
    if (k && k->used)
        k->busy = 1; /* the request is here: the reaper leaves it alone */
    pthread_mutex_unlock(&g_clock);
    if (strcmp(method, "GET") && strcmp(method, "HEAD"))
        return text(c, 405, "only GET and HEAD\n");
    const char *cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Content-Length");
    if (*upload_size || (cl && strcmp(cl, "0")) ||
        MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Transfer-Encoding"))
        return text(c, 413, "no request bodies\n");
    if (!strcmp(url, "/metrics")) {
        struct cp_srv_body b = {0};
        cp_srv_metrics(&b);
        return reply_windows(c, &b);
    }
    if (!strcmp(url, "/debug/pprof/"))
        return index_page(c);
    if (!strcmp(url, "/debug/pprof"))
        return text(c, 301, "/debug/pprof/\n");
    if (!strncmp(url, "/debug/pprof/", 13)) {
        for (int i = 0; i < 4; i++)
            if (!strcmp(url + 13, kinds[i]))
                return profile(c, i);
        return text(c, 404, "Unknown profile\n");
    }
    if (!strcmp(url, "/"))
        return text(c, 200, "ctrprof serve: /debug/pprof/ and /metrics\n");
    return text(c, 404, "404 page not found\n");
}

/* ---- the command --------------------------------------------------------------------- */

static int parse_listen(const char *s, struct sockaddr_storage *sa)
{
    char host[256];
    const char *port;
    if (s[0] == '[') {
        const char *e = strchr(s, ']');
        if (!e || e[1] != ':' || (size_t)(e - s - 1) >= sizeof host)
            return -1;
        snprintf(host, sizeof host, "%.*s", (int)(e - s - 1), s + 1);
        port = e + 2;
    } else {
        const char *e = strrchr(s, ':');
        if (!e || (size_t)(e - s) >= sizeof host)
            return -1;
        snprintf(host, sizeof host, "%.*s", (int)(e - s), s);
        port = e + 1;
    }
    struct addrinfo hints = {.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV,
                             .ai_socktype = SOCK_STREAM};
    struct addrinfo *ai;
    if (!host[0] || !port[0] || getaddrinfo(host, port, &hints, &ai))
        return -1;
    memcpy(sa, ai->ai_addr, ai->ai_addrlen);
    freeaddrinfo(ai);
    return 0;
}

static long parse_num(const char *v, long min, long max)
{
    char *e;
    errno = 0;
    long n = strtol(v, &e, 10);
    return errno || e == v || *e || n < min || n > max ? -1 : n;
}

int cp_cmd_serve(int argc, char **argv)
{
    const char *listen = "127.0.0.1:6060", *debugdir = NULL;
    long top = 20, maxc = 64, tmo = 10;
    const char **files = calloc((size_t)argc, sizeof *files);
    int nfiles = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = NULL;
        char flag[32];
        const char *eq = !strncmp(a, "--", 2) ? strchr(a, '=') : NULL;
        snprintf(flag, sizeof flag, "%.*s", eq ? (int)(eq - a) : (int)strlen(a), a);
        int known = !strcmp(flag, "--listen") || !strcmp(flag, "--metrics-top") ||
                    !strcmp(flag, "--max-conns") || !strcmp(flag, "--timeout") ||
                    !strcmp(flag, "--debug-dir");
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage(stdout);
            free(files);
            return 0;
        }
        if (!known && a[0] == '-' && a[1]) {
            fprintf(stderr, "ctrprof: serve: unknown option '%s'\n", a);
            usage(stderr);
            free(files);
            return 2;
        }
        if (!known) {
            files[nfiles++] = a;
            continue;
        }
        if (eq)
            v = eq + 1;
        else if (i + 1 < argc)
            v = argv[++i];
        else {
            fprintf(stderr, "ctrprof: serve: %s needs a value\n", a);
            free(files);
            return 2;
        }
        long *num = !strcmp(flag, "--metrics-top") ? &top
                    : !strcmp(flag, "--max-conns") ? &maxc
                    : !strcmp(flag, "--timeout")   ? &tmo
                                                   : NULL;
        if (num) {
            *num = parse_num(v, num == &top ? 0 : 1,
                             num == &top    ? 1000
                             : num == &maxc ? 10000
                                            : 3600);
            if (*num < 0) {
                fprintf(stderr, "ctrprof: serve: bad value for %s: '%s'\n", flag, v);
                free(files);
                return 2;
            }
        } else if (!strcmp(flag, "--listen"))
            listen = v;
        else
            debugdir = v;
    }
    struct sockaddr_storage sa = {0};
    if (parse_listen(listen, &sa)) {
        fprintf(stderr,
                "ctrprof: serve: --listen wants ADDR:PORT with a numeric address, not '%s'\n",
                listen);
        free(files);
        return 2;
    }
    if (nfiles == 0) {
        fprintf(stderr, "ctrprof: serve: no profile file or directory given\n");
        usage(stderr);
        free(files);
        return 2;
    }
    cp_sym_set_debug_dirs(debugdir);
    int rc = cp_srv_init(files, nfiles, (int)top);
    free(files);
    if (rc)
        return 1;
    g_timeout = (unsigned)tmo;
    g_maxconns = (unsigned)maxc;
    g_nconns = (size_t)maxc + 16; /* room for connections being refused at accept */
    g_conns = calloc(g_nconns, sizeof *g_conns);

    /* the signals main waits for: blocked before any thread starts, so all inherit it */
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);

    unsigned flags = MHD_USE_THREAD_PER_CONNECTION | MHD_USE_POLL_INTERNAL_THREAD;
    if (sa.ss_family == AF_INET6)
        flags |= MHD_USE_IPv6;
    struct MHD_Daemon *d = MHD_start_daemon(
        flags, 0, NULL, NULL, handle, NULL, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&sa,
        MHD_OPTION_CONNECTION_LIMIT, (unsigned)maxc, MHD_OPTION_PER_IP_CONNECTION_LIMIT,
        (unsigned)(maxc > 1 ? maxc / 2 : 1), MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)tmo,
        MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)HEADER_LIMIT, MHD_OPTION_THREAD_STACK_SIZE,
        (size_t)(1 << 20), MHD_OPTION_NOTIFY_CONNECTION, on_conn, NULL, MHD_OPTION_NOTIFY_COMPLETED,
        on_done, NULL, MHD_OPTION_END);
    if (!d) {
        fprintf(stderr,
                "ctrprof: serve: cannot listen on %s (in use, or not an address of this host)\n",
                listen);
        cp_srv_fini();
        return 1;
    }
    const union MHD_DaemonInfo *di = MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT);
    char host[INET6_ADDRSTRLEN] = "?";
    if (sa.ss_family == AF_INET6)
        inet_ntop(AF_INET6, &((struct sockaddr_in6 *)&sa)->sin6_addr, host, sizeof host);
    else
        inet_ntop(AF_INET, &((struct sockaddr_in *)&sa)->sin_addr, host, sizeof host);
    const char *lb = sa.ss_family == AF_INET6 ? "[" : "", *rb = sa.ss_family == AF_INET6 ? "]" : "";
    printf("http://%s%s%s:%u/\n", lb, host, rb, di ? di->port : 0);
    fflush(stdout);
    fprintf(stderr, "ctrprof: serve: http://%s%s%s:%u/debug/pprof/ and /metrics\n", lb, host, rb,
            di ? di->port : 0);
    pthread_t rt;
    pthread_create(&rt, NULL, reaper, NULL);
    int sig;
    sigwait(&set, &sig);
    g_stop = 1;
    MHD_stop_daemon(d);
    pthread_join(rt, NULL);
    cp_srv_fini();
    free(g_conns);
    return 0;
}
