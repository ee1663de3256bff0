/*
 * Bad input never crashes: NULL, freed and foreign handles (a local
 * variable's address, a loop passed as a socket, ...), double frees, NULL out
 * pointers, NULL buffers, huge sizes, invalid enum integers and negative
 * timeouts give a status, never undefined behaviour.
 */
#include "tap.h"

#define ST(x) cosocket_status_str((uint32_t)(x))

int main(void)
{
    cosocket_result r = empty_result();
    cosocket_status st;
    cosocket_tcp *s, *s2, *dead;
    cosocket_loop *lp, *deadlp;
    cosocket_until *it, *deadit;
    uint64_t toks[4];
    size_t n = 99;
    long local = 0;
    cosocket_tcp *foreign = (cosocket_tcp *)(void *)&local;
    cosocket_tcp *heap_foreign = malloc(64);
    peer_t p;

    /* ---- NULL handles */
    st = cosocket_tcp_connect(NULL, "127.0.0.1", 9, 80, NULL, &r);
    CHECK(st == COSOCKET_STATUS_NULL_PARAMETER, "connect(NULL sock): %s", ST(st));
    st = cosocket_tcp_send(NULL, (const uint8_t *)"x", 1, &r);
    CHECK(st == COSOCKET_STATUS_NULL_PARAMETER, "send(NULL sock): %s", ST(st));
    st = cosocket_tcp_receive(NULL, COSOCKET_PATTERN_LINE, 0, &r);
    CHECK(st == COSOCKET_STATUS_NULL_PARAMETER, "receive(NULL sock): %s", ST(st));
    st = cosocket_tcp_close(NULL, NULL);
    CHECK(st == COSOCKET_STATUS_NULL_PARAMETER, "close(NULL, NULL): %s", ST(st));
    st = cosocket_tcp_settimeout(NULL, 10, &r);
    CHECK(st == COSOCKET_STATUS_NULL_PARAMETER, "settimeout(NULL): %s", ST(st));
    st = cosocket_tcp_abort(NULL);
    CHECK(st == COSOCKET_STATUS_NULL_PARAMETER, "abort(NULL): %s", ST(st));
    st = cosocket_loop_wait(NULL, toks, 4, 0, &n);
    CHECK(st == COSOCKET_STATUS_NULL_PARAMETER, "loop_wait(NULL loop): %s", ST(st));
    CHECK(cosocket_loop_fd(NULL) == -1, "loop_fd(NULL) = -1");
    CHECK(cosocket_loop_timeout(NULL) == -1, "loop_timeout(NULL) = -1");
    cosocket_tcp_free(NULL);
    cosocket_loop_free(NULL);
    cosocket_until_free(NULL);
    CHECK(1, "_free(NULL) is a no-op");

    /* ---- foreign pointers */
    st = cosocket_tcp_settimeout(foreign, 10, &r);
    CHECK(st == COSOCKET_STATUS_INVALID_HANDLE, "address of a local as a socket: %s", ST(st));
    st = cosocket_tcp_receive(heap_foreign, COSOCKET_PATTERN_LINE, 0, &r);
    CHECK(st == COSOCKET_STATUS_INVALID_HANDLE, "malloc'd block as a socket: %s", ST(st));
    cosocket_tcp_free(foreign);
    CHECK(local == 0, "free of a foreign pointer is ignored (memory untouched)");
    lp = cosocket_loop_new();
    it = cosocket_until_new((const uint8_t *)"--", 2, false);
    s = cosocket_tcp_new();
    st = cosocket_tcp_close((cosocket_tcp *)(void *)lp, &r);
    CHECK(st == COSOCKET_STATUS_INVALID_HANDLE, "loop handle as a socket: %s", ST(st));
    st = cosocket_tcp_close((cosocket_tcp *)(void *)it, &r);
    CHECK(st == COSOCKET_STATUS_INVALID_HANDLE, "iterator handle as a socket: %s", ST(st));
    st = cosocket_loop_wait((cosocket_loop *)(void *)s, toks, 4, 0, &n);
    CHECK(st == COSOCKET_STATUS_INVALID_HANDLE, "socket handle as a loop: %s", ST(st));
    st = cosocket_tcp_receiveuntil(s, (cosocket_until *)(void *)s, 0, &r);
    CHECK(st == COSOCKET_STATUS_INVALID_HANDLE, "socket handle as an iterator: %s", ST(st));
    st = cosocket_tcp_receive_async(s, (cosocket_loop *)(void *)&local, 1, COSOCKET_PATTERN_LINE, 0, &r);
    CHECK(st == COSOCKET_STATUS_INVALID_HANDLE, "local address as a loop: %s", ST(st));
    cosocket_loop_free((cosocket_loop *)(void *)s);
    cosocket_until_free((cosocket_until *)(void *)s);
    st = cosocket_tcp_settimeout(s, 10, &r);
    CHECK(st == COSOCKET_STATUS_OK, "freeing a socket as a loop/iterator left it alone: %s", ST(st));

    /* ---- freed handles, double frees, reuse of the memory */
    dead = cosocket_tcp_new();
    cosocket_tcp_free(dead);
    st = cosocket_tcp_settimeout(dead, 10, &r);
    CHECK(st == COSOCKET_STATUS_INVALID_HANDLE, "freed socket: %s", ST(st));
    cosocket_tcp_free(dead);
    CHECK(1, "double free of a socket is harmless");
    /* A new socket likely lands on the freed one's memory: the stale handle
     * must still be invalid and its double free must not hit the new one. */
    s2 = cosocket_tcp_new();
    st = cosocket_tcp_settimeout(dead, 10, &r);
    printf("# the new socket handle %s the freed one\n", s2 == dead ? "equals" : "differs from");
    CHECK(st == COSOCKET_STATUS_INVALID_HANDLE, "stale handle stays invalid after a new socket: %s", ST(st));
    cosocket_tcp_free(dead);
    st = cosocket_tcp_settimeout(s2, 10, &r);
    CHECK(st == COSOCKET_STATUS_OK, "a stale double free did not free the new socket: %s", ST(st));
    cosocket_tcp_free(s2);

    deadlp = cosocket_loop_new();
    cosocket_loop_free(deadlp);
    cosocket_loop_free(deadlp);
    st = cosocket_loop_wait(deadlp, toks, 4, 0, &n);
    CHECK(st == COSOCKET_STATUS_INVALID_HANDLE, "freed loop: %s", ST(st));
    CHECK(cosocket_loop_fd(deadlp) == -1, "freed loop fd = -1");
    st = cosocket_loop_post(deadlp, 1);
    CHECK(st == COSOCKET_STATUS_INVALID_HANDLE, "post to a freed loop: %s", ST(st));
    deadit = cosocket_until_new((const uint8_t *)"x", 1, true);
    cosocket_until_free(deadit);
    cosocket_until_free(deadit);
    st = cosocket_tcp_receiveuntil(s, deadit, 0, &r);
    CHECK(st == COSOCKET_STATUS_INVALID_HANDLE, "freed iterator: %s", ST(st));

    /* ---- NULL out pointers and NULL buffers */
    st = cosocket_tcp_settimeout(s, 10, NULL);
    CHECK(st == COSOCKET_STATUS_OK, "settimeout with NULL out");
    st = cosocket_tcp_receive(s, COSOCKET_PATTERN_LINE, 0, NULL);
    CHECK(st == COSOCKET_STATUS_ERROR, "receive on a closed socket with NULL out: %s", ST(st));
    st = cosocket_tcp_send(s, NULL, 5, &r);
    CHECK(st == COSOCKET_STATUS_NULL_PARAMETER, "send(NULL, 5): %s", ST(st));
    st = cosocket_tcp_sendv(s, NULL, 3, &r);
    CHECK(st == COSOCKET_STATUS_NULL_PARAMETER, "sendv(NULL iov, 3): %s", ST(st));
    {
        cosocket_iovec iov[2] = {{(const uint8_t *)"ab", 2}, {NULL, 7}};
        st = cosocket_tcp_sendv(s, iov, 2, &r);
        CHECK(st == COSOCKET_STATUS_NULL_PARAMETER, "sendv with a NULL base: %s", ST(st));
    }
    st = cosocket_tcp_connect(s, NULL, 9, 80, NULL, &r);
    CHECK(st == COSOCKET_STATUS_NULL_PARAMETER, "connect(NULL host, 9): %s", ST(st));
    st = cosocket_loop_wait(lp, NULL, 4, 0, &n);
    CHECK(st == COSOCKET_STATUS_NULL_PARAMETER, "loop_wait(NULL tokens, 4): %s", ST(st));
    st = cosocket_loop_wait(lp, toks, 4, 0, NULL);
    CHECK(st == COSOCKET_STATUS_NULL_PARAMETER, "loop_wait(NULL n_out): %s", ST(st));
    n = 99;
    st = cosocket_loop_wait(lp, NULL, 0, 0, &n);
    CHECK(st == COSOCKET_STATUS_OK && n == 0, "loop_wait(NULL, 0) is fine: %s", ST(st));
    CHECK(cosocket_until_new(NULL, 3, false) == NULL, "until_new(NULL, 3) = NULL");
    CHECK(cosocket_until_new((const uint8_t *)"", 0, false) == NULL, "until_new(\"\") = NULL (pattern is empty)");
    st = cosocket_pool_get_stats(NULL, 4, NULL);
    CHECK(st == COSOCKET_STATUS_NULL_PARAMETER, "pool_get_stats(NULL, NULL): %s", ST(st));

    /* ---- out-of-range integers */
    st = cosocket_tcp_settimeout(s, -1, &r);
    CHECK(st == COSOCKET_STATUS_INVALID_ARGUMENT && err_is(&r, "bad timeout value"), "settimeout(-1): %s", ST(st));
    st = cosocket_tcp_settimeouts(s, 1, -5, 1, &r);
    CHECK(st == COSOCKET_STATUS_INVALID_ARGUMENT, "settimeouts(1, -5, 1): %s", ST(st));
    st = cosocket_tcp_settimeout(s, INT64_MAX, &r);
    CHECK(st == COSOCKET_STATUS_INVALID_ARGUMENT, "settimeout(INT64_MAX): %s", ST(st));
    st = cosocket_loop_sleep(lp, 1, -1);
    CHECK(st == COSOCKET_STATUS_INVALID_ARGUMENT, "loop_sleep(-1): %s", ST(st));
    st = cosocket_loop_wait(lp, toks, 4, -2, &n);
    CHECK(st == COSOCKET_STATUS_INVALID_ARGUMENT, "loop_wait(timeout -2): %s", ST(st));
    st = cosocket_tcp_receive(s, 99, 0, &r);
    CHECK(st == COSOCKET_STATUS_INVALID_ARGUMENT && err_is(&r, "bad pattern argument"), "receive(pattern 99): %s", ST(st));
    st = cosocket_tcp_receive(s, (uint32_t)-1, 0, &r);
    CHECK(st == COSOCKET_STATUS_INVALID_ARGUMENT, "receive(pattern -1): %s", ST(st));
    st = cosocket_tcp_receive(s, COSOCKET_PATTERN_ANY, 0, &r);
    CHECK(st == COSOCKET_STATUS_INVALID_ARGUMENT && err_is(&r, "bad max argument"), "receiveany(0): %s", ST(st));
    st = cosocket_tcp_receive(s, COSOCKET_PATTERN_SIZE, SIZE_MAX, &r);
    CHECK(st == COSOCKET_STATUS_INVALID_ARGUMENT && err_is(&r, "bad number argument"), "receive(SIZE_MAX): %s", ST(st));
    st = cosocket_tcp_receive_async(s, lp, 1, 99, 0, &r);
    CHECK(st == COSOCKET_STATUS_INVALID_ARGUMENT, "receive_async(pattern 99): %s", ST(st));
    st = cosocket_tcp_result(s, 99, &r);
    CHECK(st == COSOCKET_STATUS_INVALID_ARGUMENT, "result(op 99): %s", ST(st));
    st = cosocket_tcp_result(s, COSOCKET_OP_RECEIVE, &r);
    CHECK(st == COSOCKET_STATUS_NO_RESULT, "result with nothing finished: %s", ST(st));
    st = cosocket_tcp_connect(s, "127.0.0.1", 9, INT32_MIN, NULL, &r);
    CHECK(st == COSOCKET_STATUS_ERROR && r.err_len > 0 && memcmp(r.err, "bad port number: ", 17) == 0,
          "connect(port INT32_MIN): %.*s", (int)r.err_len, r.err);
    {
        cosocket_connect_options o;
        memset(&o, 0, sizeof o);
        o.pool_size = -3;
        o.backlog = -1;
        st = cosocket_tcp_connect(s, "127.0.0.1", 9, 80, &o, &r);
        CHECK(st == COSOCKET_STATUS_INVALID_ARGUMENT, "pool_size -3: %s", ST(st));
        o.pool_size = 0;
        o.backlog = -7;
        st = cosocket_tcp_connect(s, "127.0.0.1", 9, 80, &o, &r);
        CHECK(st == COSOCKET_STATUS_INVALID_ARGUMENT, "backlog -7: %s", ST(st));
    }
    CHECK(strcmp(cosocket_status_str(999), "unknown status") == 0, "status_str(999)");
    CHECK(strcmp(cosocket_status_str(COSOCKET_STATUS_INVALID_HANDLE), "invalid handle") == 0, "status_str(11)");

    /* ---- huge sizes on a live connection, use after close */
    if (peer_start(&p, "'send abc;close'") == 0) {
        cosocket_tcp_settimeout(s, 5000, &r);
        st = connect_local(s, p.port, &r);
        CHECK(st == COSOCKET_STATUS_OK, "connect");
        st = cosocket_tcp_receive(s, COSOCKET_PATTERN_SIZE, (size_t)1 << 40, &r);
        CHECK(st == COSOCKET_STATUS_ERROR && err_is(&r, "closed") && data_is(&r, "abc"),
              "receive(2^40): closed with the partial, no huge allocation");
        st = cosocket_tcp_receiveuntil(s, it, (size_t)1 << 40, &r);
        CHECK(st == COSOCKET_STATUS_ERROR && err_is(&r, "closed") && r.data == NULL, "until on a read-closed socket");
        st = cosocket_tcp_close(s, &r);
        CHECK(st == COSOCKET_STATUS_OK, "close");
        st = cosocket_tcp_receive(s, COSOCKET_PATTERN_ALL, 0, &r);
        CHECK(st == COSOCKET_STATUS_ERROR && err_is(&r, "closed") && r.data == NULL, "receive after close");
        st = cosocket_tcp_setkeepalive(s, -1, -1, &r);
        CHECK(st == COSOCKET_STATUS_ERROR && err_is(&r, "closed"), "setkeepalive after close");
        peer_stop(&p);
    } else {
        CHECK(0, "peer");
    }

    /* ---- free with operations pending */
    if (peer_start(&p, "hold") == 0) {
        s2 = cosocket_tcp_new();
        st = connect_local(s2, p.port, &r);
        st = cosocket_tcp_receive_async(s2, lp, 5, COSOCKET_PATTERN_LINE, 0, &r);
        CHECK(st == COSOCKET_STATUS_AGAIN, "receive pending: %s", ST(st));
        cosocket_tcp_free(s2);
        n = 99;
        st = cosocket_loop_wait(lp, toks, 4, 50, &n);
        CHECK(st == COSOCKET_STATUS_OK && n == 0, "a freed socket's pending receive never completes");
        st = cosocket_tcp_result(s2, COSOCKET_OP_RECEIVE, &r);
        CHECK(st == COSOCKET_STATUS_INVALID_HANDLE, "result on the freed socket: %s", ST(st));
        peer_stop(&p);
    }

    cosocket_until_free(it);
    cosocket_tcp_free(s);
    cosocket_loop_free(lp);
    free(heap_foreign);
    return tap_done();
}
