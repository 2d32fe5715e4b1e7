/* relay-spawn: how long fcgi-relay takes from being spawned to handing its socket over, as a web server's process
 * manager spawns it (fork and exec of a small process, not of a large Node process). For each round: a listening Unix
 * socket, the clock, fork + setgid/setuid to the site's account + exec of the launcher with the socket on fd 0, then
 * one FastCGI request on that socket, answered once the site's Node process has taken it; then the same request again,
 * which is the request's own cost. Prints both medians in milliseconds, and the relay's RSS. A first relay, spawned
 * before the rounds and stopped after them, keeps the Node process running, as the web server's other relays do.
 *
 * usage: relay-spawn LAUNCHER UID GID ROUNDS DIR */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static double now_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1e3 + t.tv_nsec / 1e6;
}

static void header(unsigned char *h, int type, int length)
{
    unsigned char bytes[8] = {1, (unsigned char)type, 0, 1, (unsigned char)(length >> 8), (unsigned char)length, 0, 0};
    memcpy(h, bytes, 8);
}

/* One GET /hello on a new connection to path; returns 0 once FCGI_END_REQUEST (type 3) has arrived. */
static int ask(const char *path)
{
    static const char pairs[] = "\016\003REQUEST_METHODGET\013\006REQUEST_URI/hello";
    unsigned char request[8 + 8 + 8 + sizeof(pairs) - 1 + 8 + 8];
    unsigned char *p = request;
    header(p, 1, 8); /* BEGIN_REQUEST, responder */
    memcpy(p + 8, "\0\1\0\0\0\0\0\0", 8);
    p += 16;
    header(p, 4, sizeof(pairs) - 1); /* PARAMS */
    memcpy(p + 8, pairs, sizeof(pairs) - 1);
    p += 8 + sizeof(pairs) - 1;
    header(p, 4, 0);
    header(p + 8, 5, 0); /* the empty PARAMS and STDIN */
    p += 16;
    int s = socket(AF_UNIX, SOCK_STREAM, 0);
    struct sockaddr_un address = {.sun_family = AF_UNIX};
    strncpy(address.sun_path, path, sizeof(address.sun_path) - 1);
    if (connect(s, (struct sockaddr *)&address, sizeof(address)) != 0 || write(s, request, p - request) != p - request) {
        close(s);
        return -1;
    }
    unsigned char buffer[65536];
    size_t have = 0;
    for (;;) {
        ssize_t got = read(s, buffer + have, sizeof(buffer) - have);
        if (got <= 0) break;
        have += got;
        for (size_t at = 0; at + 8 <= have;) {
            if (buffer[at + 1] == 3) {
                close(s);
                return 0;
            }
            at += 8 + (buffer[at + 4] << 8 | buffer[at + 5]) + buffer[at + 6];
        }
    }
    close(s);
    return -1;
}

static int compare(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
    if (argc != 6) {
        fprintf(stderr, "usage: %s LAUNCHER UID GID ROUNDS DIR\n", argv[0]);
        return 2;
    }
    int rounds = atoi(argv[4]);
    double *first = calloc(rounds, sizeof(double)), *again = calloc(rounds, sizeof(double));
    long rss = 0;
    pid_t resident = 0;
    for (int i = -1; i < rounds; i++) {
        char path[100];
        snprintf(path, sizeof(path), "%s/relay-spawn-%d.sock", argv[5], i);
        unlink(path);
        int listener = socket(AF_UNIX, SOCK_STREAM, 0);
        struct sockaddr_un address = {.sun_family = AF_UNIX};
        strncpy(address.sun_path, path, sizeof(address.sun_path) - 1);
        if (bind(listener, (struct sockaddr *)&address, sizeof(address)) != 0 || listen(listener, 16) != 0) return 1;
        double started = now_ms();
        pid_t relay = fork();
        if (relay == 0) {
            dup2(listener, 0);
            if (setgid(atoi(argv[3])) != 0 || setuid(atoi(argv[2])) != 0) _exit(126);
            execl(argv[1], argv[1], (char *)NULL);
            _exit(127);
        }
        close(listener);
        if (ask(path) != 0) {
            fprintf(stderr, "relay-spawn: no answer through the relay's socket\n");
            return 1;
        }
        if (i < 0) {
            resident = relay;
            continue;
        }
        first[i] = now_ms() - started;
        double asked = now_ms();
        ask(path);
        again[i] = now_ms() - asked;
        char status[64];
        snprintf(status, sizeof(status), "/proc/%d/status", relay);
        FILE *file = fopen(status, "r");
        char line[256];
        while (file && fgets(line, sizeof(line), file))
            if (sscanf(line, "VmRSS: %ld", &rss) == 1 && rss > 0) break;
        if (file) fclose(file);
        kill(relay, SIGTERM);
        waitpid(relay, NULL, 0);
        unlink(path);
    }
    kill(resident, SIGTERM);
    waitpid(resident, NULL, 0);
    qsort(first, rounds, sizeof(double), compare);
    qsort(again, rounds, sizeof(double), compare);
    printf("{\"spawnToAnswerMs\": %.3f, \"requestMs\": %.3f, \"relayRssKb\": %ld}\n", first[rounds / 2], again[rounds / 2],
           rss);
    return 0;
}
