/*
 * Line-echo server for the benchmarks: one thread, edge-triggered epoll,
 * 127.0.0.1 only.
 *
 *   server PORT            listens on 127.0.0.1:PORT (0 = any free port)
 *
 * Prints "READY <port>" on stdout once listening. Protocol, per line:
 *   "BULK <n>\n"  streams n bytes back (bulk reads)
 *   anything else is echoed back as is (line + '\n')
 * On SIGTERM/SIGINT it prints its own CPU time (getrusage) on stderr as
 *   "SERVER cpu_us=<user+sys> conns=<accepted> lines=<echoed> bulk_bytes=<n>"
 * and exits 0. It never initiates a close: it closes when the client does.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <unistd.h>

#define IN_CAP 512
#define OUT_CAP 4096
#define BULK_CHUNK (256 * 1024)

struct conn {
  int fd;
  uint32_t inlen;
  uint32_t outoff, outlen;
  uint64_t bulk_left;
  char in[IN_CAP];
  char out[OUT_CAP];
};

static char bulk_data[BULK_CHUNK];
static unsigned long long n_conns, n_lines, n_bulk;

static void close_conn(int ep, struct conn *c) {
  epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
  close(c->fd);
  free(c);
}

/* Writes pending output, then pending bulk bytes. 0: all done or EAGAIN, -1: dead. */
static int flush(struct conn *c) {
  while (c->outoff < c->outlen) {
    ssize_t n = send(c->fd, c->out + c->outoff, c->outlen - c->outoff, MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EINTR) continue;
      return errno == EAGAIN ? 0 : -1;
    }
    c->outoff += (uint32_t)n;
  }
  c->outoff = c->outlen = 0;
  while (c->bulk_left > 0) {
    size_t want = c->bulk_left < BULK_CHUNK ? (size_t)c->bulk_left : BULK_CHUNK;
    ssize_t n = send(c->fd, bulk_data, want, MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EINTR) continue;
      return errno == EAGAIN ? 0 : -1;
    }
    c->bulk_left -= (uint64_t)n;
    n_bulk += (uint64_t)n;
  }
  return 0;
}

/* Reads everything available and queues replies. 0 ok, -1 closed/dead. */
static int on_readable(struct conn *c) {
  for (;;) {
    if (c->inlen == IN_CAP) return -1; /* line too long: not our protocol */
    ssize_t n = recv(c->fd, c->in + c->inlen, IN_CAP - c->inlen, 0);
    if (n == 0) return -1;
    if (n < 0) {
      if (errno == EINTR) continue;
      return errno == EAGAIN ? 0 : -1;
    }
    c->inlen += (uint32_t)n;
    uint32_t start = 0;
    for (;;) {
      char *nl = memchr(c->in + start, '\n', c->inlen - start);
      if (!nl) break;
      uint32_t len = (uint32_t)(nl - (c->in + start)) + 1;
      if (len > 5 && memcmp(c->in + start, "BULK ", 5) == 0) {
        c->bulk_left += strtoull(c->in + start + 5, NULL, 10);
      } else {
        if (c->outlen + len > OUT_CAP || c->bulk_left > 0) {
          /* Output backed up (client pipelines without reading): flush first. */
          if (flush(c) < 0) return -1;
          if (c->outlen + len > OUT_CAP || c->bulk_left > 0) return -1;
        }
        memcpy(c->out + c->outlen, c->in + start, len);
        c->outlen += len;
        n_lines++;
      }
      start += len;
    }
    if (start > 0) {
      memmove(c->in, c->in + start, c->inlen - start);
      c->inlen -= start;
    }
    if (flush(c) < 0) return -1;
    if ((size_t)n < IN_CAP - (c->inlen)) {
      /* Short read: the socket is drained (saves the EAGAIN recv). Edge
       * triggering re-arms on the next arrival. */
      return 0;
    }
  }
}

int main(int argc, char **argv) {
  int port = argc > 1 ? atoi(argv[1]) : 0;
  memset(bulk_data, 'x', sizeof bulk_data);

  sigset_t mask;
  sigemptyset(&mask);
  sigaddset(&mask, SIGTERM);
  sigaddset(&mask, SIGINT);
  sigprocmask(SIG_BLOCK, &mask, NULL);
  signal(SIGPIPE, SIG_IGN);
  int sfd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);

  int lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  int one = 1;
  setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (bind(lfd, (struct sockaddr *)&a, sizeof a) < 0 || listen(lfd, 65535) < 0) {
    perror("server: bind/listen");
    return 1;
  }
  socklen_t alen = sizeof a;
  getsockname(lfd, (struct sockaddr *)&a, &alen);

  int ep = epoll_create1(EPOLL_CLOEXEC);
  struct epoll_event ev = {.events = EPOLLIN, .data.ptr = NULL};
  epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &ev);
  struct epoll_event sev = {.events = EPOLLIN, .data.ptr = &sfd};
  epoll_ctl(ep, EPOLL_CTL_ADD, sfd, &sev);
  printf("READY %d\n", ntohs(a.sin_port));
  fflush(stdout);

  struct epoll_event evs[512];
  for (;;) {
    int n = epoll_wait(ep, evs, 512, -1);
    if (n < 0) {
      if (errno == EINTR) continue;
      perror("server: epoll_wait");
      return 1;
    }
    for (int i = 0; i < n; i++) {
      void *p = evs[i].data.ptr;
      if (p == NULL) {
        for (;;) {
          int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
          if (fd < 0) break;
          setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
          struct conn *c = malloc(sizeof *c);
          if (!c) {
            close(fd);
            continue;
          }
          c->fd = fd;
          c->inlen = c->outoff = c->outlen = 0;
          c->bulk_left = 0;
          n_conns++;
          struct epoll_event cev = {.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET,
                                    .data.ptr = c};
          epoll_ctl(ep, EPOLL_CTL_ADD, fd, &cev);
          /* The request may already be there (edge-triggered: read it now). */
          if (on_readable(c) < 0) close_conn(ep, c);
        }
        continue;
      }
      if (p == &sfd) {
        struct rusage ru;
        getrusage(RUSAGE_SELF, &ru);
        long long us = (long long)ru.ru_utime.tv_sec * 1000000 + ru.ru_utime.tv_usec +
                       (long long)ru.ru_stime.tv_sec * 1000000 + ru.ru_stime.tv_usec;
        fprintf(stderr, "SERVER cpu_us=%lld conns=%llu lines=%llu bulk_bytes=%llu\n", us,
                n_conns, n_lines, n_bulk);
        return 0;
      }
      struct conn *c = p;
      uint32_t e = evs[i].events;
      int dead = 0;
      if (e & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) dead = on_readable(c) < 0;
      if (!dead && (e & EPOLLOUT)) dead = flush(c) < 0;
      if (dead) close_conn(ep, c);
    }
  }
}
