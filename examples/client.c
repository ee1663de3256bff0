/*
 * The classic cosocket exchange in C: connect, send "I am nginx\n", receive
 * one line with a timeout, print it, close.
 *
 *   usage: client [HOST [PORT]]        (default 127.0.0.1 1234)
 *
 * Build (from the repository root, after `cargo build --release`):
 *   make -C examples             # or by hand:
 *   cc -Wall -Iinclude examples/client.c -Ltarget/release -lcosocket \
 *      -Wl,-rpath,$PWD/target/release -o client
 * or against an installed library: cc client.c $(pkg-config --cflags --libs cosocket)
 *
 * Try it against the test peer: target/release/cosocket-peer --mode lineecho
 * prints "port N"; then run ./client 127.0.0.1 N.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cosocket.h"

static int fail(const char *what, const cosocket_result *r)
{
    fprintf(stderr, "failed to %s: %.*s\n", what, (int)r->err_len, r->err ? r->err : "");
    return 1;
}

int main(int argc, char **argv)
{
    const char *host = argc > 1 ? argv[1] : "127.0.0.1";
    int port = argc > 2 ? atoi(argv[2]) : 1234;
    static const char req[] = "I am nginx\n";
    cosocket_result r;
    int rc = 0;

    memset(&r, 0, sizeof r);
    cosocket_tcp *sock = cosocket_tcp_new();
    if (sock == NULL) {
        fprintf(stderr, "out of memory\n");
        return 1;
    }

    cosocket_tcp_settimeout(sock, 1000, &r); /* 1 s for connect, send and read */

    if (cosocket_tcp_connect(sock, host, strlen(host), port, NULL, &r) != COSOCKET_STATUS_OK) {
        rc = fail("connect", &r);
        goto done;
    }
    if (cosocket_tcp_send(sock, (const uint8_t *)req, sizeof req - 1, &r) != COSOCKET_STATUS_OK) {
        rc = fail("send", &r);
        goto done;
    }
    if (cosocket_tcp_receive(sock, COSOCKET_PATTERN_LINE, 0, &r) != COSOCKET_STATUS_OK) {
        /* on "timeout" or "closed", r.data holds what arrived (the partial) */
        rc = fail("receive a line", &r);
        goto done;
    }
    /* r.data points into the socket's buffer: valid until the next call on sock */
    printf("received: %.*s\n", (int)r.data_len, (const char *)r.data);

    if (cosocket_tcp_close(sock, &r) != COSOCKET_STATUS_OK) {
        rc = fail("close", &r);
    }
done:
    cosocket_tcp_free(sock);
    return rc;
}
