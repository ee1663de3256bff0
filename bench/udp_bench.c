/*
 * UDP request/response benchmark: raw C sockets vs cosocket's C ABI, in the
 * same run (interleaved repetitions), against a UDP echo server (a forked
 * child of this program, on 127.0.0.1).
 *
 *   udp_bench REPS N [CLIENT_CPU SERVER_CPU]
 *
 * For each placement ("cross": client and server on two vCPUs, p50 round
 * trip is what counts; "same": both on one vCPU, ops/s ranks client CPU
 * cost) and each repetition, runs N 32-byte request/response round trips
 * with:
 *   raw_blocking       connected UDP socket, send() + recv()
 *   cosocket_blocking  cosocket_udp_send + cosocket_udp_receive
 *   cosocket_loop      cosocket_udp_send + cosocket_udp_receive_async,
 *                      cosocket_loop_wait when pending (the event-loop path
 *                      the Lua scheduler uses)
 * Prints RESULT lines (bench/common.h format, workload udp_pp_cross /
 * udp_pp_same) and a summary table with medians and the ratio to raw C
 * from the same repetition. Only loopback traffic; every loop is bounded;
 * the server child is killed by PID.
 */
#include "common.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <sched.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cosocket.h>

#define PAYLOAD 32
#define MAX_REPS 64
#define RECV_TIMEOUT_MS 2000

static void pin(int cpu) {
  if (cpu < 0) return;
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(cpu, &set);
  sched_setaffinity(0, sizeof set, &set);
}

/* Forks a UDP echo server pinned to `cpu`; returns its port, *pid_out. */
static int start_server(int cpu, pid_t *pid_out) {
  int fds[2];
  if (pipe(fds) < 0) {
    perror("pipe");
    exit(1);
  }
  pid_t pid = fork();
  if (pid < 0) {
    perror("fork");
    exit(1);
  }
  if (pid == 0) {
    close(fds[0]);
    pin(cpu);
    int s = socket(AF_INET, SOCK_DGRAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = 0};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (s < 0 || bind(s, (struct sockaddr *)&a, sizeof a) < 0) _exit(1);
    socklen_t len = sizeof a;
    getsockname(s, (struct sockaddr *)&a, &len);
    int port = ntohs(a.sin_port);
    if (write(fds[1], &port, sizeof port) != sizeof port) _exit(1);
    close(fds[1]);
    char buf[2048];
    struct sockaddr_storage from;
    for (;;) { /* killed by the parent */
      socklen_t fl = sizeof from;
      ssize_t n = recvfrom(s, buf, sizeof buf, 0, (struct sockaddr *)&from, &fl);
      if (n < 0) {
        if (errno == EINTR) continue;
        _exit(1);
      }
      sendto(s, buf, (size_t)n, 0, (struct sockaddr *)&from, fl);
      if (getppid() == 1) _exit(0);
    }
  }
  close(fds[1]);
  int port = 0;
  if (read(fds[0], &port, sizeof port) != sizeof port) {
    fprintf(stderr, "udp_bench: server did not start\n");
    exit(1);
  }
  close(fds[0]);
  *pid_out = pid;
  return port;
}

static void stop_server(pid_t pid) {
  kill(pid, SIGKILL);
  waitpid(pid, NULL, 0);
}

/* ---- one client run: fills ops/s, cpu per op, p50 -------------------------- */

typedef struct {
  double ops, secs, cpu, p50;
  long errors;
} run_t;

enum { RAW, CO_BLOCK, CO_LOOP, NIMPL };
static const char *IMPL[NIMPL] = {"raw_blocking", "cosocket_blocking", "cosocket_loop"};

static double *lat;

static run_t finish(long n, double t0, double c0, long errors) {
  run_t r;
  r.secs = now_s() - t0;
  r.cpu = cpu_s() - c0;
  r.ops = (double)n / r.secs;
  r.p50 = median(lat, (size_t)n) * 1e6;
  r.errors = errors;
  return r;
}

static run_t run_raw(int port, long n) {
  int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  connect(fd, (struct sockaddr *)&a, sizeof a);
  struct timeval tv = {.tv_sec = RECV_TIMEOUT_MS / 1000, .tv_usec = 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  char buf[PAYLOAD];
  long errors = 0, warm = n / 10;
  for (long i = 0; i < warm; i++)
    if (send(fd, LINE, PAYLOAD, 0) != PAYLOAD || recv(fd, buf, sizeof buf, 0) != PAYLOAD) errors++;
  double c0 = cpu_s(), t0 = now_s();
  for (long i = 0; i < n; i++) {
    double s = now_s();
    if (send(fd, LINE, PAYLOAD, 0) != PAYLOAD || recv(fd, buf, sizeof buf, 0) != PAYLOAD) errors++;
    lat[i] = now_s() - s;
  }
  run_t r = finish(n, t0, c0, errors);
  close(fd);
  return r;
}

static cosocket_udp *co_open(int port) {
  cosocket_result res;
  cosocket_udp *s = cosocket_udp_new();
  cosocket_udp_settimeout(s, RECV_TIMEOUT_MS, &res);
  if (cosocket_udp_setpeername(s, "127.0.0.1", 9, port, &res) != COSOCKET_STATUS_OK) {
    fprintf(stderr, "setpeername: %.*s\n", (int)res.err_len, res.err);
    exit(1);
  }
  return s;
}

static int co_rt_blocking(cosocket_udp *s) {
  cosocket_result res;
  if (cosocket_udp_send(s, (const uint8_t *)LINE, PAYLOAD, &res) != COSOCKET_STATUS_OK) return -1;
  if (cosocket_udp_receive(s, PAYLOAD, &res) != COSOCKET_STATUS_OK) return -1;
  return res.data_len == PAYLOAD ? 0 : -1;
}

static run_t run_co_blocking(int port, long n) {
  cosocket_udp *s = co_open(port);
  long errors = 0, warm = n / 10;
  for (long i = 0; i < warm; i++)
    if (co_rt_blocking(s) < 0) errors++;
  double c0 = cpu_s(), t0 = now_s();
  for (long i = 0; i < n; i++) {
    double t = now_s();
    if (co_rt_blocking(s) < 0) errors++;
    lat[i] = now_s() - t;
  }
  run_t r = finish(n, t0, c0, errors);
  cosocket_udp_free(s);
  return r;
}

static int co_rt_loop(cosocket_udp *s, cosocket_loop *lp) {
  cosocket_result res;
  if (cosocket_udp_send_async(s, lp, 1, (const uint8_t *)LINE, PAYLOAD, &res) != COSOCKET_STATUS_OK)
    return -1;
  cosocket_status st = cosocket_udp_receive_async(s, lp, 2, PAYLOAD, &res);
  if (st == COSOCKET_STATUS_AGAIN) {
    uint64_t tok[4];
    size_t got = 0;
    for (int tries = 0; got == 0 && tries < 100; tries++)
      cosocket_loop_wait(lp, tok, 4, RECV_TIMEOUT_MS, &got);
    if (got == 0) return -1;
    st = cosocket_udp_result(s, COSOCKET_OP_RECEIVE, &res);
  }
  if (st != COSOCKET_STATUS_OK) return -1;
  return res.data_len == PAYLOAD ? 0 : -1;
}

static run_t run_co_loop(int port, long n) {
  cosocket_udp *s = co_open(port);
  cosocket_loop *lp = cosocket_loop_new();
  long errors = 0, warm = n / 10;
  for (long i = 0; i < warm; i++)
    if (co_rt_loop(s, lp) < 0) errors++;
  double c0 = cpu_s(), t0 = now_s();
  for (long i = 0; i < n; i++) {
    double t = now_s();
    if (co_rt_loop(s, lp) < 0) errors++;
    lat[i] = now_s() - t;
  }
  run_t r = finish(n, t0, c0, errors);
  cosocket_udp_free(s);
  cosocket_loop_free(lp);
  return r;
}

static run_t run_one(int impl, int port, long n) {
  switch (impl) {
  case RAW: return run_raw(port, n);
  case CO_BLOCK: return run_co_blocking(port, n);
  default: return run_co_loop(port, n);
  }
}

/* ---- driver ------------------------------------------------------------------ */

int main(int argc, char **argv) {
  if (argc < 3) {
    fprintf(stderr, "usage: udp_bench REPS N [CLIENT_CPU SERVER_CPU]\n");
    return 2;
  }
  int reps = atoi(argv[1]);
  long n = atol(argv[2]);
  if (reps < 1 || reps > MAX_REPS || n < 10) {
    fprintf(stderr, "udp_bench: 1 <= REPS <= %d, N >= 10\n", MAX_REPS);
    return 2;
  }
  long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
  int ccpu = argc > 3 ? atoi(argv[3]) : 0;
  int scpu = argc > 4 ? atoi(argv[4]) : (ncpu >= 2 ? 1 : 0);
  lat = malloc(sizeof(double) * (size_t)n);
  signal(SIGPIPE, SIG_IGN);

  const char *place_name[2] = {"udp_pp_cross", "udp_pp_same"};
  int place_server[2] = {scpu, ccpu};
  int nplace = scpu != ccpu ? 2 : 1;
  if (nplace == 1) place_name[0] = "udp_pp_same";

  static run_t res[2][NIMPL][MAX_REPS];
  pin(ccpu);
  for (int p = 0; p < nplace; p++)
    for (int rep = 0; rep < reps; rep++)
      for (int impl = 0; impl < NIMPL; impl++) {
        pid_t pid;
        int port = start_server(place_server[p], &pid);
        run_t r = run_one(impl, port, n);
        stop_server(pid);
        res[p][impl][rep] = r;
        report(IMPL[impl], place_name[p], (double)n, r.secs, r.cpu, r.p50, r.errors);
      }

  printf("\n%-14s %-18s %12s %8s %10s %8s %12s %7s\n", "workload", "impl", "ops/s", "ratio",
         "p50_us", "p50x", "cpu_us/op", "errors");
  for (int p = 0; p < nplace; p++)
    for (int impl = 0; impl < NIMPL; impl++) {
      double ops[MAX_REPS], ratio[MAX_REPS], p50[MAX_REPS], p50x[MAX_REPS], cpu[MAX_REPS];
      long errs = 0;
      for (int rep = 0; rep < reps; rep++) {
        run_t *r = &res[p][impl][rep], *raw = &res[p][RAW][rep];
        ops[rep] = r->ops;
        ratio[rep] = r->ops / raw->ops;
        p50[rep] = r->p50;
        p50x[rep] = r->p50 / raw->p50;
        cpu[rep] = r->cpu / (double)n * 1e6;
        errs += r->errors;
      }
      printf("%-14s %-18s %12.0f %8.3f %10.2f %8.3f %12.2f %7ld\n", place_name[p], IMPL[impl],
             median(ops, (size_t)reps), median(ratio, (size_t)reps), median(p50, (size_t)reps),
             median(p50x, (size_t)reps), median(cpu, (size_t)reps), errs);
    }
  fflush(stdout);
  free(lat);
  return 0;
}
