/*
 * Tiny TAP-ish harness and scripted-peer launcher shared by the C tests.
 *
 * CHECK(cond, fmt, ...) prints "ok N - name" or "not ok N - name (file:line)";
 * tap_done() prints the plan and returns the exit status (non-zero on any
 * failure).  peer_start() runs tests/peer's cosocket-peer (path from
 * $COSOCKET_PEER, default target/debug/cosocket-peer) with extra arguments
 * and reads its "port N" / "unix PATH" line; peer_stop() kills it by PID.
 */
#ifndef COSOCKET_TEST_TAP_H
#define COSOCKET_TEST_TAP_H

#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cosocket.h"

#define TAP_UNUSED __attribute__((unused))

static int tap_n;
static int tap_failed;

static void tap_check(int ok, const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void tap_check(int ok, const char *file, int line, const char *fmt, ...)
{
    va_list ap;
    tap_n++;
    printf("%sok %d - ", ok ? "" : "not ", tap_n);
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    if (!ok) {
        tap_failed++;
        printf(" (%s:%d)", file, line);
    }
    printf("\n");
    fflush(stdout);
}

#define CHECK(cond, ...) tap_check(!!(cond), __FILE__, __LINE__, __VA_ARGS__)

TAP_UNUSED static int tap_done(void)
{
    printf("1..%d\n", tap_n);
    if (tap_failed) {
        printf("# %d of %d checks failed\n", tap_failed, tap_n);
    }
    return tap_failed ? 1 : 0;
}

/* The error text of a result (not NUL-terminated in the result). */
TAP_UNUSED static int err_is(const cosocket_result *r, const char *want)
{
    size_t n = strlen(want);
    return r->err != NULL && r->err_len == n && memcmp(r->err, want, n) == 0;
}

TAP_UNUSED static int data_is(const cosocket_result *r, const char *want)
{
    size_t n = strlen(want);
    if (n == 0) {
        return r->data_len == 0;
    }
    return r->data != NULL && r->data_len == n && memcmp(r->data, want, n) == 0;
}

TAP_UNUSED static void show(const char *what, cosocket_status st, const cosocket_result *r)
{
    printf("# %s: status %s, err \"%.*s\", data \"%.*s\"\n", what,
           cosocket_status_str((uint32_t)st), r->err ? (int)r->err_len : 0,
           r->err ? r->err : "", r->data ? (int)r->data_len : 0,
           r->data ? (const char *)r->data : "");
}

TAP_UNUSED static cosocket_result empty_result(void)
{
    cosocket_result r;
    memset(&r, 0, sizeof r);
    return r;
}

typedef struct {
    pid_t pid;
    int out;        /* read end of the peer's stdout */
    int port;       /* TCP port, or 0 */
    char path[256]; /* unix socket path, or "" */
} peer_t;

/* Starts `cosocket-peer ARGS` (ARGS is shell words, e.g.
 * "--quiet 'expect hi;send ok\\n'"). Returns 0 on success. */
TAP_UNUSED static int peer_start(peer_t *p, const char *args)
{
    const char *bin = getenv("COSOCKET_PEER");
    char cmd[4096];
    char line[512];
    size_t got = 0;
    int fds[2];

    memset(p, 0, sizeof *p);
    p->pid = -1;
    p->out = -1;
    if (bin == NULL) {
        bin = "target/debug/cosocket-peer";
    }
    snprintf(cmd, sizeof cmd, "exec '%s' --no-stdin-exit --parent-exit %s", bin, args);
    if (pipe(fds) != 0) {
        return -1;
    }
    p->pid = fork();
    if (p->pid < 0) {
        close(fds[0]);
        close(fds[1]);
        return -1;
    }
    if (p->pid == 0) {
        dup2(fds[1], 1);
        close(fds[0]);
        close(fds[1]);
        execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
        _exit(127);
    }
    close(fds[1]);
    p->out = fds[0];
    /* Read the first line byte by byte (the rest of the stream stays). */
    while (got + 1 < sizeof line) {
        char c;
        ssize_t n = read(p->out, &c, 1);
        if (n <= 0) {
            break;
        }
        if (c == '\n') {
            break;
        }
        line[got++] = c;
    }
    line[got] = '\0';
    if (strncmp(line, "port ", 5) == 0) {
        p->port = atoi(line + 5);
        return p->port > 0 ? 0 : -1;
    }
    if (strncmp(line, "unix ", 5) == 0) {
        snprintf(p->path, sizeof p->path, "unix:%.200s", line + 5);
        return 0;
    }
    fprintf(stderr, "peer %s: unexpected first line \"%s\"\n", args, line);
    return -1;
}

TAP_UNUSED static void peer_stop(peer_t *p)
{
    if (p->pid > 0) {
        kill(p->pid, SIGKILL);
        waitpid(p->pid, NULL, 0);
        p->pid = -1;
    }
    if (p->out >= 0) {
        close(p->out);
        p->out = -1;
    }
}

TAP_UNUSED static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Connects `s` to 127.0.0.1:port (blocking); returns the status. */
TAP_UNUSED static cosocket_status connect_local(cosocket_tcp *s, int port, cosocket_result *r)
{
    return cosocket_tcp_connect(s, "127.0.0.1", 9, port, NULL, r);
}

#endif /* COSOCKET_TEST_TAP_H */
