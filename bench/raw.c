/*
 * Raw C clients: the physical limit the other implementations are compared to.
 *
 *   raw blocking pingpong  PORT N    N sequential round trips on one connection
 *   raw blocking reconnect PORT N    N x (connect, send, receive, close)
 *   raw blocking pooled    PORT N    N round trips on one kept connection (a
 *                                    pool that costs nothing)
 *   raw blocking bulk      PORT S    S streams of 64 MiB, recv() of 64 KiB
 *   raw epoll concurrent   PORT C K  C connections on one thread, each
 *                                    connect, K round trips, close
 *
 * Prints RESULT lines (see common.h).
 */
#include "common.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

static struct sockaddr_in addr;
static long errors;

static int dial(int nonblock) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | (nonblock ? SOCK_NONBLOCK : 0), 0);
  if (fd < 0) return -1;
  if (connect(fd, (struct sockaddr *)&addr, sizeof addr) < 0 && errno != EINPROGRESS) {
    close(fd);
    return -1;
  }
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  return fd;
}

static int send_all(int fd, const char *p, size_t n) {
  while (n > 0) {
    ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
    if (w < 0) {
      if (errno == EINTR) continue;
      return -1;
    }
    p += w;
    n -= (size_t)w;
  }
  return 0;
}

/* One request line out, one 32-byte reply line in. */
static int round_trip(int fd) {
  char buf[LINE_LEN];
  if (send_all(fd, LINE, LINE_LEN) < 0) return -1;
  size_t got = 0;
  while (got < LINE_LEN) {
    ssize_t r = recv(fd, buf + got, LINE_LEN - got, 0);
    if (r <= 0) {
      if (r < 0 && errno == EINTR) continue;
      return -1;
    }
    got += (size_t)r;
  }
  return buf[LINE_LEN - 1] == '\n' ? 0 : -1;
}

static void pingpong(const char *wl, long n, int timed) {
  int fd = dial(0);
  if (fd < 0) {
    perror("connect");
    exit(1);
  }
  long warm = n / 10 < 2000 ? n / 10 : 2000;
  for (long i = 0; i < warm; i++)
    if (round_trip(fd) < 0) errors++;
  double *lat = timed ? malloc(sizeof(double) * (size_t)n) : NULL;
  double c0 = cpu_s(), t0 = now_s();
  for (long i = 0; i < n; i++) {
    double a = timed ? now_s() : 0;
    if (round_trip(fd) < 0) errors++;
    if (timed) lat[i] = now_s() - a;
  }
  double t1 = now_s(), c1 = cpu_s();
  close(fd);
  report("raw_blocking", wl, (double)n, t1 - t0, c1 - c0, timed ? median(lat, (size_t)n) * 1e6 : 0,
         errors);
}

static int reconnect_once(void) {
  int fd = dial(0);
  if (fd < 0) return -1;
  int rc = round_trip(fd);
  close(fd);
  return rc;
}

static void reconnect(long n) {
  long warm = n / 10 < 500 ? n / 10 : 500;
  for (long i = 0; i < warm; i++)
    if (reconnect_once() < 0) errors++;
  double c0 = cpu_s(), t0 = now_s();
  for (long i = 0; i < n; i++)
    if (reconnect_once() < 0) errors++;
  double t1 = now_s(), c1 = cpu_s();
  report("raw_blocking", "reconnect", (double)n, t1 - t0, c1 - c0, 0, errors);
}

static void bulk(long streams) {
  int fd = dial(0);
  if (fd < 0) {
    perror("connect");
    exit(1);
  }
  static char buf[BULK_READ];
  char req[64];
  int reqlen = snprintf(req, sizeof req, "BULK %u\n", BULK_STREAM);
  double c0 = 0, t0 = 0;
  for (long s = -1; s < streams; s++) { /* stream -1 warms up */
    if (s == 0) {
      c0 = cpu_s();
      t0 = now_s();
    }
    if (send_all(fd, req, (size_t)reqlen) < 0) errors++;
    size_t left = BULK_STREAM;
    while (left > 0) {
      ssize_t r = recv(fd, buf, left < BULK_READ ? left : BULK_READ, 0);
      if (r <= 0) {
        if (r < 0 && errno == EINTR) continue;
        errors++;
        break;
      }
      left -= (size_t)r;
    }
  }
  double t1 = now_s(), c1 = cpu_s();
  close(fd);
  report("raw_blocking", "bulk", (double)streams * BULK_STREAM, t1 - t0, c1 - c0, 0, errors);
}

/* ---- epoll: C connections on one thread -------------------------------- */

struct econn {
  int fd;
  int left;     /* round trips still to do */
  int got;      /* reply bytes received for the current round trip */
  int sent;     /* request bytes sent for the current round trip */
};

static void concurrent(const char *wl, int c, int k) {
  raise_nofile();
  int ep = epoll_create1(EPOLL_CLOEXEC);
  struct econn *cs = calloc((size_t)c, sizeof *cs);
  struct epoll_event *evs = malloc(sizeof(*evs) * 1024);
  double c0 = cpu_s(), t0 = now_s();
  int live = 0;
  for (int i = 0; i < c; i++) {
    cs[i].fd = dial(1);
    if (cs[i].fd < 0) {
      errors++;
      continue;
    }
    cs[i].left = k;
    cs[i].sent = 0;
    cs[i].got = 0;
    struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET, .data.ptr = &cs[i]};
    epoll_ctl(ep, EPOLL_CTL_ADD, cs[i].fd, &ev);
    live++;
  }
  long ops = 0;
  char buf[LINE_LEN];
  while (live > 0) {
    int n = epoll_wait(ep, evs, 1024, 10000);
    if (n <= 0) {
      if (n < 0 && errno == EINTR) continue;
      fprintf(stderr, "raw epoll: stalled with %d connections left\n", live);
      errors += live;
      break;
    }
    for (int i = 0; i < n; i++) {
      struct econn *e = evs[i].data.ptr;
      if (e->fd < 0) continue;
      int dead = 0;
      for (;;) {
        if (e->sent < LINE_LEN) {
          ssize_t w = send(e->fd, LINE + e->sent, (size_t)(LINE_LEN - e->sent), MSG_NOSIGNAL);
          if (w < 0) {
            if (errno == EAGAIN || errno == ENOTCONN) break;
            if (errno == EINTR) continue;
            dead = 1;
            break;
          }
          e->sent += (int)w;
          if (e->sent < LINE_LEN) break;
        }
        ssize_t r = recv(e->fd, buf, (size_t)(LINE_LEN - e->got), 0);
        if (r < 0) {
          if (errno == EAGAIN) break;
          if (errno == EINTR) continue;
          dead = 1;
          break;
        }
        if (r == 0) {
          dead = 1;
          break;
        }
        e->got += (int)r;
        if (e->got < LINE_LEN) continue;
        ops++;
        e->got = 0;
        e->sent = 0;
        if (--e->left == 0) break;
      }
      if (dead || e->left == 0) {
        if (dead) errors++;
        close(e->fd); /* also removes it from the epoll set */
        e->fd = -1;
        live--;
      }
    }
  }
  double t1 = now_s(), c1 = cpu_s();
  report("raw_epoll", wl, (double)ops, t1 - t0, c1 - c0, 0, errors);
}

int main(int argc, char **argv) {
  if (argc < 5) {
    fprintf(stderr, "usage: raw blocking|epoll WORKLOAD PORT N [K]\n");
    return 2;
  }
  const char *mode = argv[1], *wl = argv[2];
  addr.sin_family = AF_INET;
  addr.sin_port = htons((uint16_t)atoi(argv[3]));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  long n = atol(argv[4]);
  if (strcmp(mode, "blocking") == 0) {
    if (strncmp(wl, "pingpong", 8) == 0) pingpong(wl, n, 1);
    else if (strncmp(wl, "pooled", 6) == 0) pingpong(wl, n, 0);
    else if (strcmp(wl, "reconnect") == 0) reconnect(n);
    else if (strcmp(wl, "bulk") == 0) bulk(n);
    else goto bad;
  } else if (strcmp(mode, "epoll") == 0 && strncmp(wl, "concurrent", 10) == 0 && argc > 5) {
    concurrent(wl, (int)n, atoi(argv[5]));
  } else {
    goto bad;
  }
  return errors ? 1 : 0;
bad:
  fprintf(stderr, "raw: unknown mode/workload %s %s\n", mode, wl);
  return 2;
}
