/*
 * The blocking C API: the classic exchange, every receive pattern, the
 * receiveuntil iterator, gather sends, timeouts, options and every connect
 * error string, against scripted peers.
 */
#include "tap.h"

#include <pthread.h>

static void exchange(void)
{
    peer_t p;
    cosocket_result r = empty_result();
    cosocket_status st;
    cosocket_tcp *s = cosocket_tcp_new();

    if (peer_start(&p, "'expect I am nginx\\n;send hello, nginx\\r\\nsecond line\\nrest;close'") != 0) {
        CHECK(0, "peer for the exchange");
        return;
    }
    CHECK(s != NULL, "cosocket_tcp_new");
    CHECK(cosocket_tcp_settimeout(s, 5000, &r) == COSOCKET_STATUS_OK, "settimeout 5000");
    st = connect_local(s, p.port, &r);
    CHECK(st == COSOCKET_STATUS_OK && r.value == 1, "connect returns 1");
    if (st != COSOCKET_STATUS_OK) {
        show("connect", st, &r);
    }
    st = cosocket_tcp_send(s, (const uint8_t *)"I am nginx\n", 11, &r);
    CHECK(st == COSOCKET_STATUS_OK && r.value == 11, "send returns 11");
    st = cosocket_tcp_receive(s, COSOCKET_PATTERN_LINE, 0, &r);
    CHECK(st == COSOCKET_STATUS_OK && data_is(&r, "hello, nginx") && r.err == NULL,
          "receive line (CR dropped)");
    st = cosocket_tcp_getreusedtimes(s, &r);
    CHECK(st == COSOCKET_STATUS_OK && r.value == 0, "getreusedtimes 0");
    st = cosocket_tcp_getfd(s, &r);
    CHECK(st == COSOCKET_STATUS_OK && r.value >= 0, "getfd");
    st = cosocket_tcp_receive(s, COSOCKET_PATTERN_SIZE, 6, &r);
    CHECK(st == COSOCKET_STATUS_OK && data_is(&r, "second"), "receive size 6");
    st = cosocket_tcp_receive(s, COSOCKET_PATTERN_ANY, 3, &r);
    CHECK(st == COSOCKET_STATUS_OK && data_is(&r, " li"), "receiveany(3)");
    st = cosocket_tcp_receive(s, COSOCKET_PATTERN_LINE, 0, &r);
    CHECK(st == COSOCKET_STATUS_OK && data_is(&r, "ne"), "line after receiveany");
    st = cosocket_tcp_receive(s, COSOCKET_PATTERN_ALL, 0, &r);
    CHECK(st == COSOCKET_STATUS_OK && data_is(&r, "rest"), "receive *a to EOF");
    st = cosocket_tcp_receive(s, COSOCKET_PATTERN_LINE, 0, &r);
    CHECK(st == COSOCKET_STATUS_ERROR && err_is(&r, "closed") && r.data != NULL && r.data_len == 0,
          "line after EOF: closed with an empty partial");
    st = cosocket_tcp_receive(s, COSOCKET_PATTERN_LINE, 0, &r);
    CHECK(st == COSOCKET_STATUS_ERROR && err_is(&r, "closed") && r.data == NULL,
          "read half closed: closed without partial");
    st = cosocket_tcp_close(s, &r);
    CHECK(st == COSOCKET_STATUS_OK && r.value == 1, "close after EOF returns 1");
    st = cosocket_tcp_close(s, &r);
    CHECK(st == COSOCKET_STATUS_ERROR && err_is(&r, "closed"), "second close: closed");
    st = cosocket_tcp_send(s, (const uint8_t *)"x", 1, &r);
    CHECK(st == COSOCKET_STATUS_ERROR && err_is(&r, "closed"), "send after close: closed");
    st = cosocket_tcp_getfd(s, &r);
    CHECK(st == COSOCKET_STATUS_ERROR && err_is(&r, "closed"), "getfd after close: closed");
    cosocket_tcp_free(s);
    peer_stop(&p);
}

static void gather_and_partials(void)
{
    peer_t p;
    cosocket_result r = empty_result();
    cosocket_status st;
    cosocket_tcp *s = cosocket_tcp_new();
    cosocket_iovec iov[4] = {
        {(const uint8_t *)"GET", 3},
        {(const uint8_t *)" ", 1},
        {NULL, 0},
        {(const uint8_t *)"/foo\n", 5},
    };

    if (peer_start(&p, "'expect GET /foo\\n;send last\\r;close'") != 0) {
        CHECK(0, "peer for sendv");
        return;
    }
    cosocket_tcp_settimeout(s, 5000, &r);
    connect_local(s, p.port, &r);
    st = cosocket_tcp_sendv(s, iov, 4, &r);
    CHECK(st == COSOCKET_STATUS_OK && r.value == 9, "sendv of 4 buffers (one empty)");
    st = cosocket_tcp_sendv(s, NULL, 0, &r);
    CHECK(st == COSOCKET_STATUS_OK && r.value == 0, "sendv of nothing returns 0");
    st = cosocket_tcp_send(s, NULL, 0, &r);
    CHECK(st == COSOCKET_STATUS_OK && r.value == 0, "send of 0 bytes returns 0");
    st = cosocket_tcp_receive(s, COSOCKET_PATTERN_LINE, 0, &r);
    CHECK(st == COSOCKET_STATUS_ERROR && err_is(&r, "closed") && data_is(&r, "last"),
          "partial line on EOF, CR dropped");
    cosocket_tcp_free(s);
    peer_stop(&p);
}

static void timeouts(void)
{
    peer_t p;
    cosocket_result r = empty_result();
    cosocket_status st;
    cosocket_tcp *s = cosocket_tcp_new();

    if (peer_start(&p, "'send 2\\r\\nhi\\r\\n;sleep 400;send 5\\r\\nworld\\r\\n;hold'") != 0) {
        CHECK(0, "peer for timeouts");
        return;
    }
    CHECK(cosocket_tcp_settimeouts(s, 5000, 5000, 150, &r) == COSOCKET_STATUS_OK, "settimeouts");
    connect_local(s, p.port, &r);
    st = cosocket_tcp_receive(s, COSOCKET_PATTERN_SIZE, 100, &r);
    CHECK(st == COSOCKET_STATUS_ERROR && err_is(&r, "timeout") && data_is(&r, "2\r\nhi\r\n"),
          "read timeout returns the partial");
    cosocket_tcp_settimeout(s, 5000, &r);
    st = cosocket_tcp_receive(s, COSOCKET_PATTERN_LINE, 0, &r);
    CHECK(st == COSOCKET_STATUS_OK && data_is(&r, "5"), "reading continues after a timeout");
    st = cosocket_tcp_receive(s, COSOCKET_PATTERN_LINE, 0, &r);
    CHECK(st == COSOCKET_STATUS_OK && data_is(&r, "world"), "and gets the rest");
    st = cosocket_tcp_settimeout(s, -1, &r);
    CHECK(st == COSOCKET_STATUS_INVALID_ARGUMENT && err_is(&r, "bad timeout value"),
          "settimeout(-1): INVALID_ARGUMENT bad timeout value");
    st = cosocket_tcp_settimeouts(s, 0, (int64_t)1 << 31, 0, &r);
    CHECK(st == COSOCKET_STATUS_INVALID_ARGUMENT && err_is(&r, "bad timeout value"),
          "settimeouts(0, 2^31, 0): INVALID_ARGUMENT");
    st = cosocket_tcp_settimeout(s, ((int64_t)1 << 31) - 1, &r);
    CHECK(st == COSOCKET_STATUS_OK, "settimeout(2^31-1) accepted");
    cosocket_tcp_free(s);
    peer_stop(&p);
}

static void receiveuntil(void)
{
    peer_t p;
    cosocket_result r = empty_result();
    cosocket_status st;
    cosocket_tcp *s = cosocket_tcp_new();
    cosocket_until *it = cosocket_until_new((const uint8_t *)"--abc", 5, false);
    cosocket_until *inc = cosocket_until_new((const uint8_t *)"--abc", 5, true);
    const char *chunks[] = {"hell", "o, w", "orld", " --"};
    int i;

    if (peer_start(&p, "'send hello, world ----abc\\nhello, world ----abc\\n;close'") != 0) {
        CHECK(0, "peer for receiveuntil");
        return;
    }
    CHECK(it != NULL && inc != NULL, "cosocket_until_new");
    cosocket_tcp_settimeout(s, 5000, &r);
    connect_local(s, p.port, &r);
    for (i = 0; i < 4; i++) {
        st = cosocket_tcp_receiveuntil(s, it, 4, &r);
        CHECK(st == COSOCKET_STATUS_OK && data_is(&r, chunks[i]), "sized chunk \"%s\"", chunks[i]);
    }
    st = cosocket_tcp_receiveuntil(s, it, 4, &r);
    CHECK(st == COSOCKET_STATUS_DONE && r.data == NULL && r.err == NULL, "DONE after the pattern");
    st = cosocket_tcp_receive(s, COSOCKET_PATTERN_SIZE, 1, &r);
    CHECK(st == COSOCKET_STATUS_OK && data_is(&r, "\n"), "receive(1) after the iterator");
    st = cosocket_tcp_receiveuntil(s, inc, 0, &r);
    CHECK(st == COSOCKET_STATUS_OK && data_is(&r, "hello, world ----abc"), "inclusive, no size");
    st = cosocket_tcp_receiveuntil(s, inc, 0, &r);
    CHECK(st == COSOCKET_STATUS_ERROR && err_is(&r, "closed") && data_is(&r, "\n"),
          "EOF before the pattern: closed with the partial");
    cosocket_until_free(it);
    cosocket_until_free(inc);
    cosocket_tcp_free(s);
    peer_stop(&p);
}

static void connect_errors(void)
{
    peer_t refuse, hole, unix_peer;
    cosocket_result r = empty_result();
    cosocket_status st;
    cosocket_tcp *s = cosocket_tcp_new();
    char path[128];
    char args[256];
    double t0;

    st = cosocket_tcp_connect(s, "127.0.0.1", 9, -1, NULL, &r);
    CHECK(st == COSOCKET_STATUS_ERROR && err_is(&r, "missing the port number"), "missing the port number");
    st = cosocket_tcp_connect(s, "/tmp/test-nginx.sock", 20, -1, NULL, &r);
    CHECK(st == COSOCKET_STATUS_ERROR && err_is(&r, "missing the port number"), "path without unix: prefix");
    st = cosocket_tcp_connect(s, "127.0.0.1", 9, 65536, NULL, &r);
    CHECK(st == COSOCKET_STATUS_ERROR && err_is(&r, "bad port number: 65536"), "bad port number: 65536");
    st = cosocket_tcp_connect(s, "unix:/tmp/cosocket-c-nosuchfile.sock", 36, -1, NULL, &r);
    CHECK(st == COSOCKET_STATUS_ERROR && err_is(&r, "no such file or directory"), "no such file or directory");
    st = cosocket_tcp_connect(s, "no-such-host.invalid", 20, 80, NULL, &r);
    CHECK(st == COSOCKET_STATUS_ERROR && r.err_len > 40 &&
              memcmp(r.err, "no-such-host.invalid could not be resolved (", 44) == 0,
          "unknown host: could not be resolved");
    st = cosocket_tcp_connect(s, "", 0, 80, NULL, &r);
    CHECK(st == COSOCKET_STATUS_ERROR && err_is(&r, "failed to parse host name \"\": no host"),
          "empty host: failed to parse host name");

    if (peer_start(&refuse, "--mode refuse") == 0) {
        st = connect_local(s, refuse.port, &r);
        CHECK(st == COSOCKET_STATUS_ERROR && err_is(&r, "connection refused"), "connection refused");
        st = cosocket_tcp_receive(s, COSOCKET_PATTERN_LINE, 0, &r);
        CHECK(st == COSOCKET_STATUS_ERROR && err_is(&r, "closed") && r.data == NULL,
              "after a failed connect: receive closed");
        st = cosocket_tcp_close(s, &r);
        CHECK(st == COSOCKET_STATUS_ERROR && err_is(&r, "closed"), "after a failed connect: close closed");
        peer_stop(&refuse);
    } else {
        CHECK(0, "refusing peer");
    }

    if (peer_start(&hole, "--mode blackhole") == 0) {
        cosocket_tcp_settimeout(s, 150, &r);
        t0 = now_s();
        st = connect_local(s, hole.port, &r);
        CHECK(st == COSOCKET_STATUS_ERROR && err_is(&r, "timeout") && now_s() - t0 < 20,
              "connect timeout");
        peer_stop(&hole);
    } else {
        CHECK(0, "blackhole peer");
    }

    snprintf(path, sizeof path, "/tmp/cosocket-c-%d.sock", (int)getpid());
    snprintf(args, sizeof args, "--unix %s 'send over unix\\n;hold'", path);
    if (peer_start(&unix_peer, args) == 0) {
        cosocket_tcp_settimeout(s, 5000, &r);
        st = cosocket_tcp_connect(s, unix_peer.path, strlen(unix_peer.path), -1, NULL, &r);
        CHECK(st == COSOCKET_STATUS_OK, "connect to %s", unix_peer.path);
        st = cosocket_tcp_receive(s, COSOCKET_PATTERN_LINE, 0, &r);
        CHECK(st == COSOCKET_STATUS_OK && data_is(&r, "over unix"), "line over a unix socket");
        peer_stop(&unix_peer);
        unlink(path);
    } else {
        CHECK(0, "unix peer");
    }
    cosocket_tcp_free(s);
}

static void options(void)
{
    peer_t p;
    cosocket_result r = empty_result();
    cosocket_status st;
    cosocket_tcp *s = cosocket_tcp_new();

    st = cosocket_tcp_setoption(s, "keepalive", 9, 1, &r);
    CHECK(st == COSOCKET_STATUS_ERROR && err_is(&r, "closed"), "setoption before connect: closed");
    if (peer_start(&p, "hold") != 0) {
        CHECK(0, "peer for options");
        return;
    }
    connect_local(s, p.port, &r);
    st = cosocket_tcp_setoption(s, "keepalive", 9, 1, &r);
    CHECK(st == COSOCKET_STATUS_OK, "setoption keepalive");
    st = cosocket_tcp_getoption(s, "keepalive", 9, &r);
    CHECK(st == COSOCKET_STATUS_OK && r.value == 1, "getoption keepalive = 1");
    st = cosocket_tcp_setoption(s, "sndbuf", 6, 8192, &r);
    CHECK(st == COSOCKET_STATUS_OK, "setoption sndbuf");
    st = cosocket_tcp_getoption(s, "sndbuf", 6, &r);
    CHECK(st == COSOCKET_STATUS_OK && r.value >= 8192, "getoption sndbuf >= 8192");
    st = cosocket_tcp_setoption(s, "tcp-nodelay", 11, 1, &r);
    CHECK(st == COSOCKET_STATUS_OK, "setoption tcp-nodelay");
    st = cosocket_tcp_getoption(s, "tcp-nodelay", 11, &r);
    CHECK(st == COSOCKET_STATUS_OK && r.value != 0, "getoption tcp-nodelay");
    st = cosocket_tcp_setoption(s, "bogus", 5, 1, &r);
    CHECK(st == COSOCKET_STATUS_ERROR && err_is(&r, "unsupported option bogus"), "unsupported option");
    st = cosocket_tcp_getoption(s, NULL, 0, &r);
    CHECK(st == COSOCKET_STATUS_ERROR && err_is(&r, "missing the \"option\" argument"), "missing option");
    cosocket_tcp_free(s);
    peer_stop(&p);
}

/* What the blocked reader saw: its status and whether it read "pong". */
struct reader_out {
    cosocket_status st;
    int got_pong;
};

static void *blocked_reader(void *arg)
{
    static struct reader_out out;
    cosocket_result r = empty_result();
    /* The main thread's receive(0) probes make the socket busy for an
     * instant: retry (after a pause, so that a thread switch under valgrind
     * does not leave us spinning against a descheduled prober) until this
     * reader gets in. */
    for (;;) {
        out.st = cosocket_tcp_receive(arg, COSOCKET_PATTERN_LINE, 0, &r);
        if (!(out.st == COSOCKET_STATUS_ERROR && err_is(&r, "socket busy reading"))) {
            break;
        }
        usleep(200);
    }
    out.got_pong = out.st == COSOCKET_STATUS_OK && data_is(&r, "pong");
    if (!out.got_pong) {
        show("blocked reader", out.st, &r);
    }
    return &out;
}

static void two_threads(void)
{
    peer_t p;
    cosocket_result r = empty_result();
    cosocket_status st;
    cosocket_tcp *s = cosocket_tcp_new();
    pthread_t th;
    void *ret = NULL;
    struct reader_out *out;
    double t0;

    /* The peer answers "pong" only after the main thread's "ping": the
     * reader stays blocked (its timeout is long) until the checks below
     * are done, however slowly they run (valgrind, a loaded machine). */
    if (peer_start(&p, "--quiet 'expect ping\\n;send pong\\n;hold'") != 0) {
        CHECK(0, "peer for two threads");
        return;
    }
    cosocket_tcp_settimeouts(s, 5000, 5000, 60000, &r);
    st = connect_local(s, p.port, &r);
    CHECK(st == COSOCKET_STATUS_OK, "connect");
    if (st != COSOCKET_STATUS_OK) {
        show("connect", st, &r);
    }
    pthread_create(&th, NULL, blocked_reader, s);
    /* receive(0) makes the busy checks and no I/O: wait for the reader.
     * The pause between probes lets the reader in. */
    t0 = now_s();
    for (;;) {
        st = cosocket_tcp_receive(s, COSOCKET_PATTERN_SIZE, 0, &r);
        if (st != COSOCKET_STATUS_OK || now_s() - t0 > 30) {
            break;
        }
        usleep(500);
    }
    CHECK(st == COSOCKET_STATUS_ERROR && err_is(&r, "socket busy reading"), "second reader: socket busy reading");
    if (!err_is(&r, "socket busy reading")) {
        show("second reader", st, &r);
    }
    st = cosocket_tcp_close(s, &r);
    CHECK(st == COSOCKET_STATUS_ERROR && err_is(&r, "socket busy reading"), "close while reading: busy reading");
    st = cosocket_tcp_send(s, (const uint8_t *)"ping\n", 5, &r);
    CHECK(st == COSOCKET_STATUS_OK && r.value == 5, "send while another thread reads (full duplex)");
    pthread_join(th, &ret);
    out = ret;
    CHECK(out != NULL && out->got_pong, "the reader gets the answer to the other thread's send");
    CHECK(cosocket_tcp_close(s, &r) == COSOCKET_STATUS_OK, "close afterwards");
    cosocket_tcp_free(s);
    peer_stop(&p);
}

int main(void)
{
    cosocket_result r = empty_result();
    (void)r;
    CHECK(cosocket_version() != NULL && strlen(cosocket_version()) > 0, "version %s", cosocket_version());
    exchange();
    gather_and_partials();
    timeouts();
    receiveuntil();
    connect_errors();
    options();
    two_threads();
    return tap_done();
}
