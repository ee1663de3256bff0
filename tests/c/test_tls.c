/*
 * TLS through the C ABI (plain, valgrind, ASan): cosocket_tcp_sslhandshake
 * with verification against a trusted store, an HTTP request over TLS,
 * session handles (resumption, value 2 on a TLS connection, freed handles
 * refused), the async variant with COSOCKET_OP_HANDSHAKE and
 * cosocket_tcp_getsslsession, setclientcert/settrustedstore errors.
 * Server: `openssl s_server -www` with a self-signed certificate made here.
 */
#include "tap.h"

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

static char dir[] = "/tmp/cosocket-c-tls-XXXXXX";
static char cert_pem[16384];
static pid_t server = -1;
static int port;

static int sh(const char *fmt, ...)
{
    char cmd[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof cmd, fmt, ap);
    va_end(ap);
    return system(cmd);
}

static int read_file(const char *path, char *buf, size_t cap)
{
    FILE *f = fopen(path, "rb");
    size_t n;
    if (!f) return -1;
    n = fread(buf, 1, cap - 1, f);
    buf[n] = 0;
    fclose(f);
    return (int)n;
}

/* Starts s_server on a free port; 0 on success. */
static int start_server(void)
{
    char path[512];
    int attempt;
    if (!mkdtemp(dir)) return -1;
    if (sh("cd %s && openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes "
           "-keyout key.pem -out cert.pem -days 30 -subj /CN=localhost "
           "-addext subjectAltName=DNS:localhost,IP:127.0.0.1 >openssl.log 2>&1",
           dir) != 0)
        return -1;
    snprintf(path, sizeof path, "%s/cert.pem", dir);
    if (read_file(path, cert_pem, sizeof cert_pem) <= 0) return -1;
    for (attempt = 0; attempt < 10; attempt++) {
        cosocket_result r = empty_result();
        cosocket_tcp *probe;
        int i, up = 0;
        port = 20000 + (int)((unsigned)getpid() * 7919u + (unsigned)attempt * 104729u) % 12000;
        server = fork();
        if (server == 0) {
            char cert[512], key[512], accept_arg[32];
            snprintf(cert, sizeof cert, "%s/cert.pem", dir);
            snprintf(key, sizeof key, "%s/key.pem", dir);
            snprintf(accept_arg, sizeof accept_arg, "127.0.0.1:%d", port);
            if (!freopen("/dev/null", "w", stdout) || !freopen("/dev/null", "w", stderr)) _exit(127);
            execlp("openssl", "openssl", "s_server", "-quiet", "-www", "-accept", accept_arg,
                   "-cert", cert, "-key", key, (char *)NULL);
            _exit(127);
        }
        for (i = 0; i < 100 && !up; i++) {
            usleep(50000);
            probe = cosocket_tcp_new();
            if (connect_local(probe, port, &r) == COSOCKET_STATUS_OK) up = 1;
            cosocket_tcp_free(probe);
            if (waitpid(server, NULL, WNOHANG) == server) break;
        }
        if (up) return 0;
        kill(server, SIGTERM);
        waitpid(server, NULL, 0);
        server = -1;
    }
    return -1;
}

static void stop_server(void)
{
    if (server > 0) {
        kill(server, SIGTERM);
        waitpid(server, NULL, 0);
    }
    sh("rm -rf %s", dir);
}

/* GET / over s; returns 1 when an HTTP 200 came back. */
static int http_get(cosocket_tcp *s)
{
    static const char req[] = "GET / HTTP/1.0\r\n\r\n";
    cosocket_result r = empty_result();
    if (cosocket_tcp_send(s, (const uint8_t *)req, sizeof req - 1, &r) != COSOCKET_STATUS_OK)
        return 0;
    if (cosocket_tcp_receive(s, COSOCKET_PATTERN_LINE, 0, &r) != COSOCKET_STATUS_OK) return 0;
    if (r.data_len < 12 || memcmp(r.data, "HTTP/1.0 200", 12) != 0) return 0;
    /* s_server -www closes after the page */
    return cosocket_tcp_receive(s, COSOCKET_PATTERN_ALL, 0, &r) == COSOCKET_STATUS_OK &&
           r.data_len > 0;
}

static cosocket_tcp *connected(void)
{
    cosocket_result r = empty_result();
    cosocket_tcp *s = cosocket_tcp_new();
    cosocket_tcp_settimeout(s, 5000, &r);
    if (connect_local(s, port, &r) != COSOCKET_STATUS_OK) show("connect", COSOCKET_STATUS_ERROR, &r);
    return s;
}

static void blocking(void)
{
    cosocket_result r = empty_result();
    cosocket_ssl_session *sess = NULL, *other = NULL;
    cosocket_status st;
    cosocket_tcp *s = connected();

    st = cosocket_tcp_settrustedstore(s, cert_pem, strlen(cert_pem), &r);
    CHECK(st == COSOCKET_STATUS_OK, "settrustedstore");
    st = cosocket_tcp_sslhandshake(s, NULL, "localhost", 9, true, true, &sess, &r);
    CHECK(st == COSOCKET_STATUS_OK && r.value == 1 && sess != NULL, "verified handshake, session");
    if (st != COSOCKET_STATUS_OK) show("sslhandshake", st, &r);
    st = cosocket_tcp_sslhandshake(s, sess, NULL, 0, false, true, &other, &r);
    CHECK(st == COSOCKET_STATUS_OK && r.value == 2 && other == NULL, "already TLS with a session");
    CHECK(http_get(s), "HTTP over TLS");
    CHECK(cosocket_ssl_session_resumable(sess), "session resumable after the response");
    cosocket_tcp_free(s);

    s = connected();
    st = cosocket_tcp_settrustedstore(s, cert_pem, strlen(cert_pem), &r);
    st = cosocket_tcp_sslhandshake(s, sess, "localhost", 9, true, false, NULL, &r);
    CHECK(st == COSOCKET_STATUS_OK, "handshake with the session");
    st = cosocket_tcp_sslresumed(s, &r);
    CHECK(st == COSOCKET_STATUS_OK && r.value == 1, "resumed");
    CHECK(http_get(s), "HTTP over the resumed session");
    cosocket_tcp_free(s);
    cosocket_ssl_session_free(sess);
    cosocket_ssl_session_free(sess);
    cosocket_ssl_session_free(NULL);

    s = connected();
    st = cosocket_tcp_sslhandshake(s, sess, NULL, 0, false, false, NULL, &r);
    CHECK(st == COSOCKET_STATUS_INVALID_HANDLE, "freed session refused");
    st = cosocket_tcp_sslhandshake(s, NULL, "localhost", 9, true, false, NULL, &r);
    CHECK(st == COSOCKET_STATUS_ERROR && err_is(&r, "18: self-signed certificate"),
          "untrusted self-signed: 18");
    st = cosocket_tcp_send(s, (const uint8_t *)"x", 1, &r);
    CHECK(st == COSOCKET_STATUS_ERROR && err_is(&r, "closed"), "closed after a failed handshake");
    cosocket_tcp_free(s);

    s = connected();
    st = cosocket_tcp_settrustedstore(s, cert_pem, strlen(cert_pem), &r);
    st = cosocket_tcp_sslhandshake(s, NULL, "example.com", 11, true, false, NULL, &r);
    CHECK(st == COSOCKET_STATUS_ERROR && err_is(&r, "certificate host mismatch"), "host mismatch");
    cosocket_tcp_free(s);
}

static void arguments(void)
{
    cosocket_result r = empty_result();
    cosocket_tcp *s = cosocket_tcp_new();
    cosocket_status st;
    st = cosocket_tcp_setclientcert(s, cert_pem, strlen(cert_pem), NULL, 0, &r);
    CHECK(st == COSOCKET_STATUS_ERROR &&
              err_is(&r, "client certificate must be supplied with corresponding private key"),
          "setclientcert without key");
    st = cosocket_tcp_setclientcert(s, cert_pem, strlen(cert_pem), "junk", 4, &r);
    CHECK(st == COSOCKET_STATUS_ERROR && err_is(&r, "ssl set client private key failed"), "bad key");
    st = cosocket_tcp_settrustedstore(s, cert_pem, strlen(cert_pem), &r);
    CHECK(st == COSOCKET_STATUS_ERROR && err_is(&r, "closed"), "settrustedstore unconnected");
    st = cosocket_tcp_sslhandshake(s, NULL, NULL, 0, false, false, NULL, &r);
    CHECK(st == COSOCKET_STATUS_ERROR && err_is(&r, "closed"), "handshake unconnected");
    st = cosocket_tcp_sslhandshake(NULL, NULL, NULL, 0, false, false, NULL, &r);
    CHECK(st == COSOCKET_STATUS_NULL_PARAMETER, "NULL socket");
    cosocket_tcp_free(s);
}

static void async(void)
{
    cosocket_result r = empty_result();
    cosocket_ssl_session *sess = NULL;
    cosocket_loop *lp = cosocket_loop_new();
    cosocket_tcp *s = connected();
    cosocket_status st;
    uint64_t tok[4];
    size_t n = 0;
    int i;

    st = cosocket_tcp_sslhandshake_async(s, lp, 42, NULL, "localhost", 9, false, true, &sess, &r);
    if (st == COSOCKET_STATUS_AGAIN) {
        for (i = 0; i < 100 && n == 0; i++) cosocket_loop_wait(lp, tok, 4, 100, &n);
        CHECK(n == 1 && tok[0] == 42, "handshake token");
        st = cosocket_tcp_result(s, COSOCKET_OP_HANDSHAKE, &r);
        CHECK(st == COSOCKET_STATUS_OK && r.value == 1, "handshake result");
        st = cosocket_tcp_getsslsession(s, &sess, &r);
        CHECK(st == COSOCKET_STATUS_OK && sess != NULL, "getsslsession");
    } else {
        CHECK(st == COSOCKET_STATUS_OK && sess != NULL, "handshake finished at once");
    }
    CHECK(http_get(s), "HTTP after the async handshake");
    cosocket_ssl_session_free(sess);
    cosocket_tcp_free(s);
    cosocket_loop_free(lp);
}

int main(void)
{
    if (start_server() != 0) {
        CHECK(0, "openssl s_server started (openssl CLI needed)");
        stop_server();
        return tap_done();
    }
    arguments();
    blocking();
    async();
    stop_server();
    return tap_done();
}
