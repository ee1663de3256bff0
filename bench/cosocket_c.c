/*
 * cosocket from C: blocking calls, and asynchronous calls completed through
 * a cosocket_loop (the completion queue), one thread.
 *
 *   cosocket_c blocking pingpong|pingpong_1core|reconnect|pooled PORT N
 *   cosocket_c blocking bulk PORT S
 *   cosocket_c blocking memory PORT N     RSS per open / per idle pooled connection
 *   cosocket_c cq pingpong|pingpong_1core|reconnect|pooled PORT N
 *   cosocket_c cq concurrent_C PORT C K
 *   cosocket_c cq bulk PORT S
 *
 * Like the Lua idiom, reconnect and pooled create a socket object per
 * operation. Prints RESULT lines (see common.h).
 */
#include "common.h"

#include <malloc.h>

#include "../include/cosocket.h"

static const char HOST[] = "127.0.0.1";
static int port;
static long errors;

static void perr(const char *what, cosocket_status st, const cosocket_result *r) {
  if (errors < 5)
    fprintf(stderr, "cosocket_c: %s: status %d %.*s\n", what, (int)st, r->err ? (int)r->err_len : 0,
            r->err ? r->err : "");
  errors++;
}

/* ---- blocking ----------------------------------------------------------- */

static int b_round_trip(cosocket_tcp *s) {
  cosocket_result r;
  cosocket_status st = cosocket_tcp_send(s, (const uint8_t *)LINE, LINE_LEN, &r);
  if (st != COSOCKET_STATUS_OK) {
    perr("send", st, &r);
    return -1;
  }
  st = cosocket_tcp_receive(s, COSOCKET_PATTERN_LINE, 0, &r);
  if (st != COSOCKET_STATUS_OK || r.data_len != LINE_LEN - 1) {
    perr("receive", st, &r);
    return -1;
  }
  return 0;
}

static cosocket_tcp *b_connect(void) {
  cosocket_result r;
  cosocket_tcp *s = cosocket_tcp_new();
  cosocket_status st = cosocket_tcp_connect(s, HOST, sizeof HOST - 1, port, NULL, &r);
  if (st != COSOCKET_STATUS_OK) {
    perr("connect", st, &r);
    cosocket_tcp_free(s);
    return NULL;
  }
  return s;
}

static void b_pingpong(const char *wl, long n) {
  cosocket_tcp *s = b_connect();
  if (!s) exit(1);
  long warm = n / 10 < 2000 ? n / 10 : 2000;
  for (long i = 0; i < warm; i++) b_round_trip(s);
  double *lat = malloc(sizeof(double) * (size_t)n);
  double c0 = cpu_s(), t0 = now_s();
  for (long i = 0; i < n; i++) {
    double a = now_s();
    b_round_trip(s);
    lat[i] = now_s() - a;
  }
  double t1 = now_s(), c1 = cpu_s();
  cosocket_tcp_free(s);
  report("cosocket_c_blocking", wl, (double)n, t1 - t0, c1 - c0, median(lat, (size_t)n) * 1e6,
         errors);
}

/* connect, send, receive, then close or setkeepalive; a new object each time. */
static void b_cycle(int pooled) {
  cosocket_tcp *s = b_connect();
  if (!s) return;
  cosocket_result r;
  if (b_round_trip(s) == 0) {
    cosocket_status st = pooled ? cosocket_tcp_setkeepalive(s, -1, -1, &r) : cosocket_tcp_close(s, &r);
    if (st != COSOCKET_STATUS_OK) perr(pooled ? "setkeepalive" : "close", st, &r);
  }
  cosocket_tcp_free(s);
}

static void b_cycles(const char *wl, long n, int pooled) {
  long warm = n / 10 < 500 ? n / 10 : 500;
  for (long i = 0; i < warm; i++) b_cycle(pooled);
  double c0 = cpu_s(), t0 = now_s();
  for (long i = 0; i < n; i++) b_cycle(pooled);
  double t1 = now_s(), c1 = cpu_s();
  report("cosocket_c_blocking", wl, (double)n, t1 - t0, c1 - c0, 0, errors);
}

static int b_bulk_stream(cosocket_tcp *s) {
  char req[64];
  int reqlen = snprintf(req, sizeof req, "BULK %u\n", BULK_STREAM);
  cosocket_result r;
  cosocket_status st = cosocket_tcp_send(s, (const uint8_t *)req, (size_t)reqlen, &r);
  if (st != COSOCKET_STATUS_OK) {
    perr("send", st, &r);
    return -1;
  }
  for (unsigned left = BULK_STREAM; left > 0; left -= BULK_READ) {
    st = cosocket_tcp_receive(s, COSOCKET_PATTERN_SIZE, BULK_READ, &r);
    if (st != COSOCKET_STATUS_OK || r.data_len != BULK_READ) {
      perr("receive", st, &r);
      return -1;
    }
  }
  return 0;
}

static void b_bulk(long streams) {
  cosocket_tcp *s = b_connect();
  if (!s) exit(1);
  b_bulk_stream(s);
  double c0 = cpu_s(), t0 = now_s();
  for (long i = 0; i < streams; i++) b_bulk_stream(s);
  double t1 = now_s(), c1 = cpu_s();
  cosocket_tcp_free(s);
  report("cosocket_c_blocking", "bulk", (double)streams * BULK_STREAM, t1 - t0, c1 - c0, 0, errors);
}

/* RSS per open connection (connected, one round trip done, nothing unread)
 * and per idle pooled connection (after setkeepalive, objects freed). */
static void b_memory(long n) {
  raise_nofile();
  cosocket_tcp **v = calloc((size_t)n, sizeof *v);
  /* Warm the library up (runtime, pool registry) outside the measurement. */
  b_cycle(1);
  malloc_trim(0);
  long base = rss_kib();
  for (long i = 0; i < n; i++) {
    v[i] = b_connect();
    if (v[i]) b_round_trip(v[i]);
  }
  malloc_trim(0);
  long open = rss_kib();
  cosocket_result r;
  for (long i = 0; i < n; i++) {
    if (!v[i]) continue;
    cosocket_status st = cosocket_tcp_setkeepalive(v[i], 0, n, &r);
    if (st != COSOCKET_STATUS_OK) perr("setkeepalive", st, &r);
    cosocket_tcp_free(v[i]);
  }
  malloc_trim(0);
  long pooled = rss_kib();
  report_value("cosocket_c_blocking", "mem_open", (double)n, (double)(open - base) * 1024.0 / (double)n);
  report_value("cosocket_c_blocking", "mem_pooled", (double)n,
               (double)(pooled - base) * 1024.0 / (double)n);
}

/* ---- completion queue --------------------------------------------------- */

enum step { S_CONNECT, S_SEND, S_RECV, S_END, S_DONE };

struct conn {
  cosocket_tcp *s;
  enum step step;
  long rounds_left; /* round trips left in this cycle */
  long cycles_left; /* connect cycles left */
  double sent_at;
};

static cosocket_loop *lp;
static long rounds_per_cycle;
static int end_pooled;
static double *lat;
static long nlat, ops;

/* Runs conn `i` until it must wait (returns) or is finished. `st`/`r` carry a
 * finished pending operation's result in (st == -1: start the current step). */
static void drive(struct conn *cs, uint64_t i, int st_in, cosocket_result *r_in) {
  struct conn *c = &cs[i];
  cosocket_result r;
  int st = st_in;
  if (st >= 0) r = *r_in;
  for (;;) {
    if (st < 0) {
      switch (c->step) {
      case S_CONNECT:
        if (!c->s) c->s = cosocket_tcp_new();
        st = cosocket_tcp_connect_async(c->s, lp, i, HOST, sizeof HOST - 1, port, NULL, &r);
        break;
      case S_SEND:
        if (lat) c->sent_at = now_s();
        st = cosocket_tcp_send_async(c->s, lp, i, (const uint8_t *)LINE, LINE_LEN, &r);
        break;
      case S_RECV:
        st = cosocket_tcp_receive_async(c->s, lp, i, COSOCKET_PATTERN_LINE, 0, &r);
        break;
      case S_END:
        st = end_pooled ? cosocket_tcp_setkeepalive(c->s, -1, -1, &r) : cosocket_tcp_close(c->s, &r);
        break;
      case S_DONE:
        return;
      }
      if (st == COSOCKET_STATUS_AGAIN) return;
    }
    /* The current step finished with (st, r). */
    if (st != COSOCKET_STATUS_OK || (c->step == S_RECV && r.data_len != LINE_LEN - 1)) {
      static const char *names[] = {"connect", "send", "receive", "close/setkeepalive"};
      perr(names[c->step], (cosocket_status)st, &r);
      cosocket_tcp_abort(c->s);
      c->step = S_END;
      c->rounds_left = 0;
      if (--c->cycles_left <= 0) {
        c->step = S_DONE;
        return;
      }
      c->step = S_CONNECT;
      st = -1;
      continue;
    }
    switch (c->step) {
    case S_CONNECT:
      c->step = S_SEND;
      c->rounds_left = rounds_per_cycle;
      break;
    case S_SEND:
      c->step = S_RECV;
      break;
    case S_RECV:
      ops++;
      if (lat) lat[nlat++] = now_s() - c->sent_at;
      c->step = --c->rounds_left > 0 ? S_SEND : S_END;
      break;
    case S_END:
      if (--c->cycles_left > 0) {
        /* A new object per cycle, as a Lua program would create. */
        cosocket_tcp_free(c->s);
        c->s = NULL;
        c->step = S_CONNECT;
      } else {
        c->step = S_DONE;
        return;
      }
      break;
    case S_DONE:
      return;
    }
    st = -1;
  }
}

static const uint32_t op_of[] = {COSOCKET_OP_CONNECT, COSOCKET_OP_SEND, COSOCKET_OP_RECEIVE};

/* Runs `nconn` connections, each `cycles` x (connect, `rounds` round trips, end). */
static void cq_run(const char *wl, long nconn, long cycles, long rounds, int pooled, int timed) {
  raise_nofile();
  lp = cosocket_loop_new();
  struct conn *cs = calloc((size_t)nconn, sizeof *cs);
  rounds_per_cycle = rounds;
  end_pooled = pooled;
  lat = NULL;
  nlat = ops = 0;
  long warm_cycles = cycles > 1 ? (cycles / 10 < 500 ? cycles / 10 : 500) : 0;
  long warm_rounds = cycles == 1 && nconn == 1 ? (rounds / 10 < 2000 ? rounds / 10 : 2000) : 0;
  /* Warm-up on a single connection (not timed). */
  if (warm_cycles || warm_rounds) {
    struct conn w = {0};
    w.cycles_left = warm_cycles ? warm_cycles : 1;
    rounds_per_cycle = warm_rounds ? warm_rounds : rounds;
    drive(&w, 0, -1, NULL);
    uint64_t tok[16];
    size_t n;
    while (w.step != S_DONE) {
      cosocket_loop_wait(lp, tok, 16, -1, &n);
      for (size_t j = 0; j < n; j++) {
        cosocket_result r;
        int st = cosocket_tcp_result(w.s, op_of[w.step], &r);
        drive(&w, 0, st, &r);
      }
    }
    cosocket_tcp_free(w.s);
    rounds_per_cycle = rounds;
    ops = 0;
  }
  if (timed) lat = malloc(sizeof(double) * (size_t)(nconn * cycles * rounds));
  double c0 = cpu_s(), t0 = now_s();
  for (long i = 0; i < nconn; i++) {
    cs[i].cycles_left = cycles;
    cs[i].step = S_CONNECT;
    drive(cs, (uint64_t)i, -1, NULL);
  }
  long live = 0;
  for (long i = 0; i < nconn; i++) live += cs[i].step != S_DONE;
  uint64_t tok[256];
  while (live > 0) {
    size_t n = 0;
    cosocket_loop_wait(lp, tok, 256, 10000, &n);
    if (n == 0) {
      fprintf(stderr, "cosocket_c cq: stalled with %ld connections left\n", live);
      errors += live;
      break;
    }
    for (size_t j = 0; j < n; j++) {
      struct conn *c = &cs[tok[j]];
      cosocket_result r;
      int st = cosocket_tcp_result(c->s, op_of[c->step], &r);
      drive(cs, tok[j], st, &r);
      if (c->step == S_DONE) live--;
    }
  }
  double t1 = now_s(), c1 = cpu_s();
  for (long i = 0; i < nconn; i++) cosocket_tcp_free(cs[i].s);
  double ops_d = (double)ops;
  if (strcmp(wl, "reconnect") == 0 || strncmp(wl, "pooled", 6) == 0) ops_d = (double)(nconn * cycles);
  report("cosocket_c_cq", wl, ops_d, t1 - t0, c1 - c0, lat ? median(lat, (size_t)nlat) * 1e6 : 0,
         errors);
  cosocket_loop_free(lp);
}

/* Bulk through the loop: receive(65536) until 64 MiB, S streams. */
static void cq_bulk(long streams) {
  lp = cosocket_loop_new();
  cosocket_tcp *s = cosocket_tcp_new();
  cosocket_result r;
  uint64_t tok[4];
  size_t n;
  int st = cosocket_tcp_connect_async(s, lp, 1, HOST, sizeof HOST - 1, port, NULL, &r);
  if (st == COSOCKET_STATUS_AGAIN) {
    do cosocket_loop_wait(lp, tok, 4, -1, &n);
    while (n == 0);
    st = cosocket_tcp_result(s, COSOCKET_OP_CONNECT, &r);
  }
  if (st != COSOCKET_STATUS_OK) {
    perr("connect", (cosocket_status)st, &r);
    exit(1);
  }
  char req[64];
  int reqlen = snprintf(req, sizeof req, "BULK %u\n", BULK_STREAM);
  double c0 = 0, t0 = 0;
  for (long k = -1; k < streams; k++) {
    if (k == 0) {
      c0 = cpu_s();
      t0 = now_s();
    }
    st = cosocket_tcp_send_async(s, lp, 1, (const uint8_t *)req, (size_t)reqlen, &r);
    if (st == COSOCKET_STATUS_AGAIN) {
      do cosocket_loop_wait(lp, tok, 4, -1, &n);
      while (n == 0);
      st = cosocket_tcp_result(s, COSOCKET_OP_SEND, &r);
    }
    if (st != COSOCKET_STATUS_OK) perr("send", (cosocket_status)st, &r);
    for (unsigned left = BULK_STREAM; left > 0; left -= BULK_READ) {
      st = cosocket_tcp_receive_async(s, lp, 1, COSOCKET_PATTERN_SIZE, BULK_READ, &r);
      if (st == COSOCKET_STATUS_AGAIN) {
        do cosocket_loop_wait(lp, tok, 4, -1, &n);
        while (n == 0);
        st = cosocket_tcp_result(s, COSOCKET_OP_RECEIVE, &r);
      }
      if (st != COSOCKET_STATUS_OK || r.data_len != BULK_READ) {
        perr("receive", (cosocket_status)st, &r);
        break;
      }
    }
  }
  double t1 = now_s(), c1 = cpu_s();
  cosocket_tcp_free(s);
  cosocket_loop_free(lp);
  report("cosocket_c_cq", "bulk", (double)streams * BULK_STREAM, t1 - t0, c1 - c0, 0, errors);
}

int main(int argc, char **argv) {
  if (argc < 5) {
    fprintf(stderr, "usage: cosocket_c blocking|cq WORKLOAD PORT N [K]\n");
    return 2;
  }
  const char *mode = argv[1], *wl = argv[2];
  port = atoi(argv[3]);
  long n = atol(argv[4]);
  if (strcmp(mode, "blocking") == 0) {
    if (strncmp(wl, "pingpong", 8) == 0) b_pingpong(wl, n);
    else if (strcmp(wl, "reconnect") == 0) b_cycles(wl, n, 0);
    else if (strncmp(wl, "pooled", 6) == 0) b_cycles(wl, n, 1);
    else if (strcmp(wl, "bulk") == 0) b_bulk(n);
    else if (strcmp(wl, "memory") == 0) b_memory(n);
    else goto bad;
  } else if (strcmp(mode, "cq") == 0) {
    if (strncmp(wl, "pingpong", 8) == 0) cq_run(wl, 1, 1, n, 0, 1);
    else if (strcmp(wl, "reconnect") == 0) cq_run(wl, 1, n, 1, 0, 0);
    else if (strncmp(wl, "pooled", 6) == 0) cq_run(wl, 1, n, 1, 1, 0);
    else if (strncmp(wl, "concurrent", 10) == 0 && argc > 5) cq_run(wl, n, 1, atol(argv[5]), 0, 0);
    else if (strcmp(wl, "bulk") == 0) cq_bulk(n);
    else goto bad;
  } else {
    goto bad;
  }
  return errors ? 1 : 0;
bad:
  fprintf(stderr, "cosocket_c: unknown mode/workload %s %s\n", mode, wl);
  return 2;
}
