/* loadgen: drive a FastCGI responder directly (no web server) over N connections, for a time or a number of requests,
 * check each answer, and print throughput, latency and errors as one JSON line. */
#define _GNU_SOURCE
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

enum { T_BEGIN = 1, T_END = 3, T_PARAMS = 4, T_STDIN = 5, T_STDOUT = 6, T_STDERR = 7 };
enum { C_IDLE, C_CONNECTING, C_BUSY, C_DONE }; /* IDLE: no socket, (re)connect at retry_at; DONE: --requests sent */
#define HIST_MAX 1000000                  /* 1 us latency buckets up to 1 s; slower ones share the last */
#define RETRY_US 10000                    /* pause after a failed connect */
#define MAX_PARAMS 16                     /* extra --param options */

struct conn {
    int fd, state, out, served;           /* out: EPOLLOUT registered */
    uint64_t retry_at, t_start;
    size_t woff;                          /* bytes of the request written */
    unsigned char hdr[8], end[8];
    size_t hlen, clen, total, pos;        /* current record: header bytes, content, content+padding, consumed */
    char head[4096];                      /* start of stdout, to check the header line and --expect-body */
    size_t headlen, out_bytes, err_bytes;
};

static struct { uint64_t requests, connect_err, proto_err, wrong, early_close, out_bytes, err_bytes, max_us, messages; } st;
static uint32_t hist[HIST_MAX];
static unsigned char req[32768];
static size_t reqlen;
static struct sockaddr_storage addr;
static socklen_t addrlen;
static int keep_alive, epfd, ever_connected, idle, retired;
static uint64_t max_requests, issued;     /* --requests: how many to send in all (0: no limit), how many were sent */
static const char *expect_body;           /* --expect-body: the exact body after the headers, with status 200 */
static uint64_t t_measure;                /* start of the measured window (after warm-up) */

static uint64_t now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static void usage(void)
{
    fprintf(stderr, "usage: loadgen --connect HOST:PORT|unix:/path --connections N (--duration SECONDS | --requests N)\n"
                    "               [--keep-alive] [--warmup SECONDS] [--path /hello] [--param NAME=VALUE]...\n"
                    "               [--expect-body TEXT]\n");
    exit(2);
}

/* ---- request ---- */

static unsigned char *put_header(unsigned char *p, int type, size_t len, size_t pad)
{
    p[0] = 1; p[1] = type; p[2] = 0; p[3] = 1;          /* version 1, request id 1 */
    p[4] = len >> 8; p[5] = len; p[6] = pad; p[7] = 0;
    return p + 8;
}

static unsigned char *put_len(unsigned char *p, size_t n)
{
    if (n < 128) { *p++ = n; return p; }
    *p++ = 0x80 | n >> 24; *p++ = n >> 16; *p++ = n >> 8; *p++ = n;
    return p;
}

static unsigned char *put_param(unsigned char *p, const char *name, size_t nlen, const char *value)
{
    size_t vlen = strlen(value);
    p = put_len(put_len(p, nlen), vlen);
    memcpy(p, name, nlen);
    memcpy(p + nlen, value, vlen);
    return p + nlen + vlen;
}

/* BEGIN_REQUEST, one PARAMS record with nginx's stock fastcgi_params for GET <path>, empty PARAMS, empty STDIN. */
static void build_request(const char *path, char **extra, int nextra)
{
    char uri[1100];
    const char *q = strchr(path, '?');
    snprintf(uri, sizeof uri, "%.*s", (int)(q ? q - path : (long)strlen(path)), path);
    const char *params[][2] = {
        {"QUERY_STRING", q ? q + 1 : ""}, {"REQUEST_METHOD", "GET"}, {"CONTENT_TYPE", ""}, {"CONTENT_LENGTH", ""},
        {"SCRIPT_NAME", uri}, {"REQUEST_URI", path}, {"DOCUMENT_URI", uri}, {"DOCUMENT_ROOT", "/var/www/html"},
        {"SERVER_PROTOCOL", "HTTP/1.1"}, {"REQUEST_SCHEME", "http"}, {"GATEWAY_INTERFACE", "CGI/1.1"},
        {"SERVER_SOFTWARE", "nginx/1.22.1"}, {"REMOTE_ADDR", "127.0.0.1"}, {"REMOTE_PORT", "40000"},
        {"SERVER_ADDR", "127.0.0.1"}, {"SERVER_PORT", "80"}, {"SERVER_NAME", "localhost"}, {"REDIRECT_STATUS", "200"},
        {"HTTP_HOST", "localhost"}, {"HTTP_USER_AGENT", "loadgen"}, {"HTTP_ACCEPT", "*/*"},
    };
    unsigned char body[24576], *b = body;     /* fits 3 paths and MAX_PARAMS params */
    for (size_t i = 0; i < sizeof params / sizeof params[0]; i++)
        b = put_param(b, params[i][0], strlen(params[i][0]), params[i][1]);
    for (int i = 0; i < nextra; i++) {
        char *eq = strchr(extra[i], '=');
        b = put_param(b, extra[i], eq - extra[i], eq + 1);
    }
    size_t blen = b - body, pad = (8 - blen % 8) % 8;

    unsigned char *p = put_header(req, T_BEGIN, 8, 0);
    memset(p, 0, 8);
    p[1] = 1;                                           /* role: responder */
    p[2] = keep_alive;                                  /* FCGI_KEEP_CONN */
    p = put_header(p + 8, T_PARAMS, blen, pad);
    memcpy(p, body, blen);
    memset(p + blen, 0, pad);
    p = put_header(p + blen + pad, T_PARAMS, 0, 0);
    p = put_header(p, T_STDIN, 0, 0);
    reqlen = p - req;
}

/* ---- connections ---- */

static void drop(struct conn *c, uint64_t retry_at)
{
    if (c->fd >= 0) close(c->fd);              /* also leaves the epoll set */
    c->fd = -1;
    c->state = C_IDLE;
    c->retry_at = retry_at;
    idle++;
}

static void fail(struct conn *c, uint64_t *count, const char *what, const char *detail, uint64_t now)
{
    if (now >= t_measure) (*count)++;
    if (++st.messages <= 10) fprintf(stderr, "loadgen: %s: %s\n", what, detail);
    else if (st.messages == 11) fprintf(stderr, "loadgen: further errors not shown\n");
    drop(c, count == &st.connect_err ? now + RETRY_US : now);
}

static void want_out(struct conn *c, int on)
{
    if (c->out == on) return;
    struct epoll_event ev = { .events = EPOLLIN | (on ? EPOLLOUT : 0), .data.ptr = c };
    epoll_ctl(epfd, EPOLL_CTL_MOD, c->fd, &ev);
    c->out = on;
}

static void flush(struct conn *c, uint64_t now)
{
    while (c->woff < reqlen) {
        ssize_t n = send(c->fd, req + c->woff, reqlen - c->woff, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0 && errno == EAGAIN) { want_out(c, 1); return; }
        if (n < 0) { fail(c, &st.early_close, "write", strerror(errno), now); return; }
        c->woff += n;
    }
    want_out(c, 0);
}

/* Closes a connection for good once --requests have all been sent. */
static void retire(struct conn *c)
{
    if (c->fd >= 0) close(c->fd);
    c->fd = -1;
    c->state = C_DONE;
    retired++;
}

static int budget_spent(void) { return max_requests && issued >= max_requests; }

static void send_request(struct conn *c, uint64_t now)
{
    if (budget_spent()) { retire(c); return; }
    issued++;
    c->t_start = now;
    c->woff = c->hlen = c->headlen = c->out_bytes = c->err_bytes = 0;
    flush(c, now);
}

static void start(struct conn *c, uint64_t now)
{
    idle--;
    if (budget_spent()) { retire(c); return; }
    c->state = C_CONNECTING;
    c->fd = socket(addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (c->fd < 0) { fail(c, &st.connect_err, "socket", strerror(errno), now); return; }
    if (addr.ss_family != AF_UNIX) setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &(int){1}, sizeof(int));
    int r = connect(c->fd, (struct sockaddr *)&addr, addrlen);
    if (r < 0 && errno != EINPROGRESS) { fail(c, &st.connect_err, "connect", strerror(errno), now); return; }
    c->out = r < 0;
    struct epoll_event ev = { .events = EPOLLIN | (c->out ? EPOLLOUT : 0), .data.ptr = c };
    epoll_ctl(epfd, EPOLL_CTL_ADD, c->fd, &ev);
    if (r == 0) { c->state = C_BUSY; ever_connected = 1; send_request(c, now); }
}

/* ---- responses ---- */

static void content(struct conn *c, const unsigned char *p, size_t k)
{
    size_t n = c->pos < c->clen ? c->clen - c->pos : 0;  /* content, not padding */
    if (n > k) n = k;
    if (c->hdr[1] == T_STDOUT) {
        size_t room = sizeof c->head - 1 - c->headlen;
        memcpy(c->head + c->headlen, p, n < room ? n : room);
        c->headlen += n < room ? n : room;
        c->out_bytes += n;
    } else if (c->hdr[1] == T_STDERR) {
        c->err_bytes += n;
    } else if (c->pos < 8) {
        memcpy(c->end + c->pos, p, n < 8 - c->pos ? n : 8 - c->pos);
    }
}

/* Consume response bytes; returns how many were used (stops after END_REQUEST, sets *done), -1 on a bad record. */
static long feed(struct conn *c, const unsigned char *p, size_t n, int *done)
{
    size_t used = 0;
    *done = 0;
    while (!*done) {
        if (c->hlen < 8) {
            size_t k = 8 - c->hlen < n - used ? 8 - c->hlen : n - used;
            memcpy(c->hdr + c->hlen, p + used, k);
            c->hlen += k;
            used += k;
            if (c->hlen < 8) break;
            int type = c->hdr[1];
            if (c->hdr[0] != 1 || c->hdr[2] != 0 || c->hdr[3] != 1) return -1;
            if (type != T_STDOUT && type != T_STDERR && type != T_END) return -1;
            c->clen = c->hdr[4] << 8 | c->hdr[5];
            c->total = c->clen + c->hdr[6];
            c->pos = 0;
        }
        size_t k = c->total - c->pos < n - used ? c->total - c->pos : n - used;
        content(c, p + used, k);
        c->pos += k;
        used += k;
        if (c->pos < c->total) break;
        c->hlen = 0;                                     /* record complete */
        if (c->hdr[1] == T_END) *done = 1;
    }
    return used;
}

/* With --expect-body: status 200 (no Status header, or one that says 200) and exactly that body after the headers. */
static const char *check_answer(struct conn *c)
{
    if (c->out_bytes != c->headlen) return "stdout longer than --expect-body allows";
    char *crlf = strstr(c->head, "\r\n\r\n"), *lf = strstr(c->head, "\n\n");
    char *body = crlf && (!lf || crlf < lf) ? crlf + 4 : lf ? lf + 2 : NULL;
    if (!body) return "no blank line after the headers";
    for (char *line = c->head; line < body; line = strchr(line, '\n') + 1)
        if (!strncasecmp(line, "Status:", 7) && strtol(line + 7, NULL, 10) != 200) return "status not 200";
    if ((size_t)(c->head + c->headlen - body) != strlen(expect_body) || memcmp(body, expect_body, strlen(expect_body)))
        return "body differs from --expect-body";
    return NULL;
}

/* The response must start with a CGI header line such as "Content-Type: text/plain". Sets *wrong for a well-formed
 * response with the wrong answer. */
static const char *check(struct conn *c, int *wrong)
{
    *wrong = 0;
    if (c->clen < 8) return "short END_REQUEST";
    if (c->end[4] != 0) return "protocolStatus not REQUEST_COMPLETE";
    if (c->out_bytes == 0) return "no stdout";
    c->head[c->headlen] = 0;
    size_t name = strcspn(c->head, ": \t\r\n");
    if (name == 0 || c->head[name] != ':' || !strchr(c->head, '\n')) return "stdout does not start with a header line";
    const char *bad = expect_body ? check_answer(c) : NULL;
    *wrong = bad != NULL;
    return bad;
}

static void record(struct conn *c, uint64_t now)
{
    if (now < t_measure) return;
    uint64_t us = now - c->t_start;
    if (us > st.max_us) st.max_us = us;
    hist[us < HIST_MAX ? us : HIST_MAX - 1]++;
    st.requests++;
    st.out_bytes += c->out_bytes;
    st.err_bytes += c->err_bytes;
    c->served = 1;
}

static void on_readable(struct conn *c)
{
    static unsigned char buf[65536];
    ssize_t n = read(c->fd, buf, sizeof buf);
    uint64_t now = now_us();
    if (n < 0 && (errno == EAGAIN || errno == EINTR)) return;
    if (n <= 0) { fail(c, &st.early_close, "connection closed before END_REQUEST", n ? strerror(errno) : "EOF", now); return; }
    int done;
    long used = feed(c, buf, n, &done);
    if (used < 0) { fail(c, &st.proto_err, "protocol error", "unexpected record", now); return; }
    if (!done) return;
    int wrong;
    const char *bad = check(c, &wrong);
    if (!bad && used < n && keep_alive) bad = "data after END_REQUEST";
    if (bad) { fail(c, wrong ? &st.wrong : &st.proto_err, wrong ? "wrong answer" : "protocol error", bad, now); return; }
    record(c, now);
    if (keep_alive) { send_request(c, now); return; }
    drop(c, now);
    start(c, now);
}

static void on_event(struct conn *c, uint32_t events)
{
    uint64_t now = now_us();
    if (c->state == C_IDLE || c->state == C_DONE) return;      /* closed earlier in this batch of events */
    if (c->state == C_CONNECTING) {
        int err = 0;
        getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &(socklen_t){sizeof err});
        if (err) { fail(c, &st.connect_err, "connect", strerror(err), now); return; }
        c->state = C_BUSY;
        ever_connected = 1;
        send_request(c, now);
        return;
    }
    if (events & EPOLLOUT) flush(c, now);
    if (c->state == C_BUSY && events & (EPOLLIN | EPOLLHUP | EPOLLERR)) on_readable(c);
}

/* ---- main ---- */

static void parse_address(const char *s)
{
    if (!strncmp(s, "unix:", 5)) {
        struct sockaddr_un *un = (struct sockaddr_un *)&addr;
        if (strlen(s + 5) == 0 || strlen(s + 5) >= sizeof un->sun_path) usage();
        un->sun_family = AF_UNIX;
        strcpy(un->sun_path, s + 5);
        addrlen = sizeof *un;
        return;
    }
    char host[256];
    const char *colon = strrchr(s, ':');
    if (!colon || colon == s || colon - s >= (long)sizeof host) usage();
    snprintf(host, sizeof host, "%.*s", (int)(colon - s), s);
    if (host[0] == '[') { memmove(host, host + 1, strlen(host)); host[strcspn(host, "]")] = 0; }
    struct addrinfo hints = { .ai_socktype = SOCK_STREAM }, *ai;
    int err = getaddrinfo(host, colon + 1, &hints, &ai);
    if (err) { fprintf(stderr, "loadgen: %s: %s\n", s, gai_strerror(err)); exit(2); }
    memcpy(&addr, ai->ai_addr, ai->ai_addrlen);
    addrlen = ai->ai_addrlen;
    freeaddrinfo(ai);
}

static double number(const char *s, double min, double max)
{
    char *end;
    double v = s ? strtod(s, &end) : 0;
    if (!s || *end || end == s || v < min || v > max) usage();
    return v;
}

static uint64_t percentile(double p)
{
    uint64_t want = (uint64_t)(p * st.requests + 0.999999), seen = 0;
    for (size_t us = 0; us < HIST_MAX; us++)
        if ((seen += hist[us]) >= want && want) return us == HIST_MAX - 1 ? st.max_us : us;
    return 0;
}

int main(int argc, char **argv)
{
    const char *connect_to = NULL, *path = "/hello";
    char *extra[MAX_PARAMS];
    int nconn = 0, nextra = 0;
    double duration = 0, warmup = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = argv[i + 1];
        if (!strcmp(a, "--keep-alive")) { keep_alive = 1; continue; }
        if (!v) usage();
        i++;
        if (!strcmp(a, "--connect")) connect_to = v;
        else if (!strcmp(a, "--connections")) nconn = number(v, 1, 100000);
        else if (!strcmp(a, "--duration")) duration = number(v, 0.001, 86400);
        else if (!strcmp(a, "--warmup")) warmup = number(v, 0, 86400);
        else if (!strcmp(a, "--requests")) max_requests = number(v, 1, 1e12);
        else if (!strcmp(a, "--expect-body") && strlen(v) < sizeof ((struct conn *)0)->head / 2) expect_body = v;
        else if (!strcmp(a, "--path") && v[0] == '/' && strlen(v) <= 1024) path = v;
        else if (!strcmp(a, "--param") && nextra < MAX_PARAMS && strchr(v, '=') && v[0] != '=' && strlen(v) <= 1024)
            extra[nextra++] = argv[i];
        else usage();
    }
    if (!connect_to || !nconn || (!duration && !max_requests)) usage();
    if (!duration) duration = 86400;
    parse_address(connect_to);
    build_request(path, extra, nextra);
    signal(SIGPIPE, SIG_IGN);

    struct conn *conns = calloc(nconn, sizeof *conns);
    epfd = epoll_create1(EPOLL_CLOEXEC);
    if (!conns || epfd < 0) { perror("loadgen"); return 1; }
    uint64_t now = now_us(), t_end;
    t_measure = now + (uint64_t)(warmup * 1e6);
    t_end = t_measure + (uint64_t)(duration * 1e6);
    for (int i = 0; i < nconn; i++) conns[i] = (struct conn){ .fd = -1, .state = C_IDLE, .retry_at = now };
    idle = nconn;

    struct epoll_event evs[256];
    while ((now = now_us()) < t_end && retired < nconn) {
        uint64_t wake = t_end;
        for (int i = 0; idle && i < nconn; i++) {
            if (conns[i].state != C_IDLE) continue;
            if (conns[i].retry_at <= now) start(&conns[i], now);
            else if (conns[i].retry_at < wake) wake = conns[i].retry_at;
        }
        if (retired == nconn) break;                                /* the last of --requests were answered */
        if (idle && wake > now + RETRY_US) wake = now + RETRY_US;   /* a start() above may have failed */
        int n = epoll_wait(epfd, evs, 256, (wake - now + 999) / 1000);
        if (n < 0 && errno != EINTR) { perror("loadgen: epoll_wait"); return 1; }
        for (int i = 0; i < n; i++) on_event(evs[i].data.ptr, evs[i].events);
    }

    double secs = (now - t_measure) / 1e6;
    int served = 0;
    for (int i = 0; i < nconn; i++) served += conns[i].served;
    printf("{\"requests\":%llu,\"seconds\":%.3f,\"rps\":%.1f,\"p50_us\":%llu,\"p99_us\":%llu,\"errors\":%llu,"
           "\"connections\":%d,\"keepAlive\":%s,\"served_connections\":%d,\"connect_errors\":%llu,"
           "\"protocol_errors\":%llu,\"wrong_answers\":%llu,\"early_closes\":%llu,\"stdout_bytes\":%llu,"
           "\"stderr_bytes\":%llu,\"sent\":%llu}\n",
           (unsigned long long)st.requests, secs, st.requests / secs, (unsigned long long)percentile(0.50),
           (unsigned long long)percentile(0.99),
           (unsigned long long)(st.connect_err + st.proto_err + st.wrong + st.early_close), nconn,
           keep_alive ? "true" : "false", served, (unsigned long long)st.connect_err,
           (unsigned long long)st.proto_err, (unsigned long long)st.wrong, (unsigned long long)st.early_close,
           (unsigned long long)st.out_bytes, (unsigned long long)st.err_bytes, (unsigned long long)issued);
    if (!ever_connected) { fprintf(stderr, "loadgen: could not connect to %s\n", connect_to); return 1; }
    return 0;
}
