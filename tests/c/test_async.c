/*
 * The asynchronous C API: several sockets on one loop driven through its
 * pollable fd (poll() on cosocket_loop_fd, then cosocket_loop_wait(..., 0,
 * ...)), results fetched with cosocket_tcp_result, timeouts fired by the
 * loop, sleep tokens, and cosocket_loop_post from another thread.
 */
#include "tap.h"

#include <poll.h>
#include <pthread.h>

#define NSOCK 16

/* Waits (through poll on the loop fd) until `want` comes out; other tokens
 * are appended to seen[]. Returns 1 when it came out. */
static int wait_for(cosocket_loop *lp, uint64_t want, uint64_t *seen, size_t *nseen, size_t cap)
{
    double end = now_s() + 20;
    size_t i;
    for (;;) {
        for (i = 0; i < *nseen; i++) {
            if (seen[i] == want) {
                seen[i] = seen[--*nseen];
                return 1;
            }
        }
        if (now_s() > end) {
            return 0;
        }
        struct pollfd pfd = {cosocket_loop_fd(lp), POLLIN, 0};
        int64_t t = cosocket_loop_timeout(lp);
        int ms = (t < 0 || t > 100) ? 100 : (int)t;
        poll(&pfd, 1, ms);
        uint64_t toks[8];
        size_t n = 0;
        if (cosocket_loop_wait(lp, toks, 8, 0, &n) != COSOCKET_STATUS_OK) {
            return 0;
        }
        for (i = 0; i < n && *nseen < cap; i++) {
            seen[(*nseen)++] = toks[i];
        }
    }
}

static void many_sockets(void)
{
    peer_t p;
    cosocket_loop *lp = cosocket_loop_new();
    cosocket_tcp *s[NSOCK];
    cosocket_result r = empty_result();
    cosocket_status st;
    uint64_t seen[64];
    size_t nseen = 0;
    int waiting[NSOCK];
    int i, ok_connect = 0, ok_send = 0, ok_recv = 0, pending_recv = 0;
    char msg[32];

    CHECK(lp != NULL && cosocket_loop_fd(lp) >= 0, "loop and its fd");
    if (peer_start(&p, "--mode lineecho") != 0) {
        CHECK(0, "lineecho peer");
        return;
    }
    for (i = 0; i < NSOCK; i++) {
        s[i] = cosocket_tcp_new();
        cosocket_tcp_settimeout(s[i], 5000, &r);
        st = cosocket_tcp_connect_async(s[i], lp, (uint64_t)i, "127.0.0.1", 9, p.port, NULL, &r);
        if (st == COSOCKET_STATUS_AGAIN) {
            if (wait_for(lp, (uint64_t)i, seen, &nseen, 64)) {
                st = cosocket_tcp_result(s[i], COSOCKET_OP_CONNECT, &r);
            }
        }
        ok_connect += st == COSOCKET_STATUS_OK && r.value == 1;
    }
    CHECK(ok_connect == NSOCK, "%d async connects", ok_connect);
    for (i = 0; i < NSOCK; i++) {
        int n = snprintf(msg, sizeof msg, "msg %d\n", i);
        st = cosocket_tcp_send_async(s[i], lp, 100 + (uint64_t)i, (const uint8_t *)msg, (size_t)n, &r);
        if (st == COSOCKET_STATUS_AGAIN && wait_for(lp, 100 + (uint64_t)i, seen, &nseen, 64)) {
            st = cosocket_tcp_result(s[i], COSOCKET_OP_SEND, &r);
        }
        ok_send += st == COSOCKET_STATUS_OK && r.value == n;
    }
    CHECK(ok_send == NSOCK, "%d async sends", ok_send);
    /* Start every receive first, then collect them in any order. */
    for (i = 0; i < NSOCK; i++) {
        st = cosocket_tcp_receive_async(s[i], lp, 200 + (uint64_t)i, COSOCKET_PATTERN_LINE, 0, &r);
        waiting[i] = st == COSOCKET_STATUS_AGAIN;
        if (waiting[i]) {
            pending_recv++;
        } else {
            snprintf(msg, sizeof msg, "msg %d", i);
            ok_recv += st == COSOCKET_STATUS_OK && data_is(&r, msg);
        }
    }
    for (i = 0; i < NSOCK; i++) {
        if (!waiting[i]) {
            continue; /* finished on the fast path: counted already */
        }
        /* Wait for this socket's token (others may come out meanwhile and
         * stay in seen[]); only then is its result there to fetch. */
        if (!wait_for(lp, 200 + (uint64_t)i, seen, &nseen, 64)) {
            continue;
        }
        st = cosocket_tcp_result(s[i], COSOCKET_OP_RECEIVE, &r);
        snprintf(msg, sizeof msg, "msg %d", i);
        ok_recv += st == COSOCKET_STATUS_OK && data_is(&r, msg);
    }
    CHECK(ok_recv == NSOCK, "%d async receives (%d waited)", ok_recv, pending_recv);
    st = cosocket_tcp_result(s[0], COSOCKET_OP_RECEIVE, &r);
    CHECK(st == COSOCKET_STATUS_NO_RESULT, "no second result");
    for (i = 0; i < NSOCK; i++) {
        cosocket_tcp_free(s[i]);
    }
    CHECK(cosocket_loop_timeout(lp) == -1, "nothing scheduled once all are done");
    cosocket_loop_free(lp);
    peer_stop(&p);
}

static void loop_timeouts(void)
{
    peer_t hole, quiet;
    cosocket_loop *lp = cosocket_loop_new();
    cosocket_tcp *s = cosocket_tcp_new();
    cosocket_result r = empty_result();
    cosocket_status st;
    uint64_t seen[8];
    size_t nseen = 0;

    if (peer_start(&hole, "--mode blackhole") != 0 || peer_start(&quiet, "'send 2\\r\\nhi;hold'") != 0) {
        CHECK(0, "peers for loop timeouts");
        return;
    }
    cosocket_tcp_settimeout(s, 150, &r);
    st = cosocket_tcp_connect_async(s, lp, 1, "127.0.0.1", 9, hole.port, NULL, &r);
    CHECK(st == COSOCKET_STATUS_AGAIN, "connect to a black hole is pending");
    CHECK(cosocket_loop_timeout(lp) >= 0 && cosocket_loop_timeout(lp) <= 150, "loop timeout bounded by the connect timeout");
    st = cosocket_tcp_receive(s, COSOCKET_PATTERN_LINE, 0, &r);
    CHECK(st == COSOCKET_STATUS_ERROR && err_is(&r, "socket busy connecting"), "busy connecting");
    CHECK(wait_for(lp, 1, seen, &nseen, 8), "connect token");
    st = cosocket_tcp_result(s, COSOCKET_OP_CONNECT, &r);
    CHECK(st == COSOCKET_STATUS_ERROR && err_is(&r, "timeout"), "connect timeout from the loop");

    st = cosocket_tcp_connect_async(s, lp, 2, "127.0.0.1", 9, quiet.port, NULL, &r);
    if (st == COSOCKET_STATUS_AGAIN && wait_for(lp, 2, seen, &nseen, 8)) {
        st = cosocket_tcp_result(s, COSOCKET_OP_CONNECT, &r);
    }
    CHECK(st == COSOCKET_STATUS_OK, "connect");
    st = cosocket_tcp_receive_async(s, lp, 3, COSOCKET_PATTERN_LINE, 0, &r);
    if (st == COSOCKET_STATUS_AGAIN && wait_for(lp, 3, seen, &nseen, 8)) {
        st = cosocket_tcp_result(s, COSOCKET_OP_RECEIVE, &r);
    }
    CHECK(st == COSOCKET_STATUS_OK && data_is(&r, "2"), "line");
    st = cosocket_tcp_receive_async(s, lp, 4, COSOCKET_PATTERN_LINE, 0, &r);
    if (st == COSOCKET_STATUS_AGAIN && wait_for(lp, 4, seen, &nseen, 8)) {
        st = cosocket_tcp_result(s, COSOCKET_OP_RECEIVE, &r);
    }
    CHECK(st == COSOCKET_STATUS_ERROR && err_is(&r, "timeout") && data_is(&r, "hi"),
          "read timeout from the loop with the partial");
    st = cosocket_tcp_send_async(s, lp, 5, (const uint8_t *)"still ok", 8, &r);
    CHECK(st == COSOCKET_STATUS_OK && r.value == 8, "send after a read timeout (fast path)");
    cosocket_tcp_free(s);
    cosocket_loop_free(lp);
    peer_stop(&hole);
    peer_stop(&quiet);
}

static void *poster(void *arg)
{
    cosocket_loop *lp = arg;
    usleep(50 * 1000);
    cosocket_loop_post(lp, 4242);
    return NULL;
}

static void sleeps_and_posts(void)
{
    cosocket_loop *lp = cosocket_loop_new();
    uint64_t toks[4];
    uint64_t order[3];
    size_t n = 0, got = 0;
    pthread_t th;
    double t0;

    CHECK(cosocket_loop_timeout(lp) == -1, "fresh loop: nothing scheduled");
    CHECK(cosocket_loop_wait(lp, toks, 4, 0, &n) == COSOCKET_STATUS_OK && n == 0, "wait(0) on an idle loop");
    cosocket_loop_sleep(lp, 30, 30);
    cosocket_loop_sleep(lp, 10, 10);
    cosocket_loop_sleep(lp, 20, 20);
    CHECK(cosocket_loop_timeout(lp) >= 0 && cosocket_loop_timeout(lp) <= 10, "timeout follows the nearest sleep");
    t0 = now_s();
    while (got < 3 && now_s() - t0 < 20) {
        if (cosocket_loop_wait(lp, toks, 1, -1, &n) == COSOCKET_STATUS_OK && n == 1) {
            order[got++] = toks[0];
        }
    }
    CHECK(got == 3 && order[0] == 10 && order[1] == 20 && order[2] == 30, "sleep tokens in deadline order");

    pthread_create(&th, NULL, poster, lp);
    n = 0;
    t0 = now_s();
    while (n == 0 && now_s() - t0 < 20) {
        cosocket_loop_wait(lp, toks, 4, 1000, &n);
    }
    pthread_join(th, NULL);
    CHECK(n == 1 && toks[0] == 4242, "post from another thread wakes the wait");
    cosocket_loop_post(lp, 7);
    {
        struct pollfd pfd = {cosocket_loop_fd(lp), POLLIN, 0};
        CHECK(poll(&pfd, 1, 5000) == 1, "loop fd readable after a post");
    }
    n = 0;
    cosocket_loop_wait(lp, toks, 4, 0, &n);
    CHECK(n == 1 && toks[0] == 7, "posted token with wait(0)");
    cosocket_loop_free(lp);
}

static void until_gather_abort(void)
{
    peer_t p;
    cosocket_loop *lp = cosocket_loop_new();
    cosocket_tcp *s = cosocket_tcp_new();
    cosocket_until *it = cosocket_until_new((const uint8_t *)"\r\n\r\n", 4, false);
    cosocket_result r = empty_result();
    cosocket_status st;
    uint64_t seen[8];
    size_t nseen = 0;
    cosocket_iovec iov[3] = {
        {(const uint8_t *)"GET /", 5},
        {(const uint8_t *)" HTTP/1.0\r\n", 11},
        {(const uint8_t *)"\r\n", 2},
    };

    if (peer_start(&p, "'expect GET / HTTP/1.0\\r\\n\\r\\n;sleep 50;send HTTP/1.0 200 OK\\r\\nA: b\\r\\n\\r\\nbody;hold'") != 0) {
        CHECK(0, "peer for receiveuntil_async");
        return;
    }
    cosocket_tcp_settimeout(s, 5000, &r);
    st = cosocket_tcp_connect_async(s, lp, 1, "127.0.0.1", 9, p.port, NULL, &r);
    if (st == COSOCKET_STATUS_AGAIN && wait_for(lp, 1, seen, &nseen, 8)) {
        st = cosocket_tcp_result(s, COSOCKET_OP_CONNECT, &r);
    }
    CHECK(st == COSOCKET_STATUS_OK, "connect");
    st = cosocket_tcp_sendv_async(s, lp, 2, iov, 3, &r);
    if (st == COSOCKET_STATUS_AGAIN && wait_for(lp, 2, seen, &nseen, 8)) {
        st = cosocket_tcp_result(s, COSOCKET_OP_SEND, &r);
    }
    CHECK(st == COSOCKET_STATUS_OK && r.value == 18, "sendv_async of 3 buffers");
    st = cosocket_tcp_receiveuntil_async(s, lp, 3, it, 0, &r);
    CHECK(st == COSOCKET_STATUS_AGAIN, "receiveuntil_async waits for the reply");
    st = cosocket_tcp_result(s, COSOCKET_OP_RECEIVE, &r);
    CHECK(st == COSOCKET_STATUS_NO_RESULT, "no result before the token");
    if (wait_for(lp, 3, seen, &nseen, 8)) {
        st = cosocket_tcp_result(s, COSOCKET_OP_RECEIVE, &r);
    }
    CHECK(st == COSOCKET_STATUS_OK && data_is(&r, "HTTP/1.0 200 OK\r\nA: b"), "header block");
    st = cosocket_tcp_receive_async(s, lp, 4, COSOCKET_PATTERN_SIZE, 4, &r);
    CHECK(st == COSOCKET_STATUS_OK && data_is(&r, "body"), "buffered body on the fast path");
    st = cosocket_tcp_receive_async(s, lp, 5, COSOCKET_PATTERN_LINE, 0, &r);
    CHECK(st == COSOCKET_STATUS_AGAIN, "a receive pending");
    CHECK(cosocket_tcp_abort(s) == COSOCKET_STATUS_OK, "abort while pending");
    {
        uint64_t toks[4];
        size_t n = 9;
        cosocket_loop_wait(lp, toks, 4, 50, &n);
        CHECK(n == 0, "the aborted receive's token never comes");
    }
    st = cosocket_tcp_receive(s, COSOCKET_PATTERN_LINE, 0, &r);
    CHECK(st == COSOCKET_STATUS_ERROR && err_is(&r, "closed"), "closed after abort");
    st = cosocket_tcp_connect_async(s, lp, 6, "127.0.0.1", 9, p.port, NULL, &r);
    if (st == COSOCKET_STATUS_AGAIN && wait_for(lp, 6, seen, &nseen, 8)) {
        st = cosocket_tcp_result(s, COSOCKET_OP_CONNECT, &r);
    }
    CHECK(st == COSOCKET_STATUS_OK, "the handle connects again after abort");
    cosocket_until_free(it);
    cosocket_tcp_free(s);
    cosocket_loop_free(lp);
    peer_stop(&p);
}

int main(void)
{
    many_sockets();
    loop_timeouts();
    sleeps_and_posts();
    until_gather_abort();
    return tap_done();
}
