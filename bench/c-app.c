/* c-app: hello-world FastCGI responder on libfcgi's reentrant API, serving fd 0 - the ceiling for a libfcgi binding. */
#include <fcgiapp.h>
#include <unistd.h>

int main(void)
{
    FCGX_Request r;
    if (FCGX_Init() != 0 || FCGX_InitRequest(&r, 0, 0) != 0) return 1;
    while (FCGX_Accept_r(&r) >= 0) {
#ifdef SLEEP_MS
        usleep(SLEEP_MS * 1000); /* c-sleep-app: a slow API call, for fcgid-concurrency.mjs */
#endif
        FCGX_PutS("Content-Type: text/plain\r\n\r\nHello, world!\n", r.out);
        FCGX_Finish_r(&r);
    }
    return 0;
}
