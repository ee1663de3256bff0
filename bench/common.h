/* Shared helpers of the C benchmark clients: timing, CPU, results. */
#ifndef BENCH_COMMON_H
#define BENCH_COMMON_H

#define _GNU_SOURCE
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

/* A 32-byte request line: 31 characters and '\n'. */
static const char LINE[] = "0123456789abcdefghijklmnopqrstu\n";
#define LINE_LEN 32
#define BULK_STREAM (64u * 1024 * 1024)
#define BULK_READ 65536

static inline double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static inline double cpu_s(void) {
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec * 1e-6 +
         (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec * 1e-6;
}

/* Resident set size in KiB (VmRSS). */
static inline long rss_kib(void) {
  FILE *f = fopen("/proc/self/status", "r");
  char line[256];
  long kib = -1;
  if (!f) return -1;
  while (fgets(line, sizeof line, f))
    if (strncmp(line, "VmRSS:", 6) == 0) kib = strtol(line + 6, NULL, 10);
  fclose(f);
  return kib;
}

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

/* Median of n samples (sorts in place). */
static inline double median(double *v, size_t n) {
  if (n == 0) return 0;
  qsort(v, n, sizeof *v, cmp_double);
  return v[n / 2];
}

/* One measurement: the line run.sh parses. */
static inline void report(const char *impl, const char *workload, double ops, double secs,
                          double cpu, double p50_us, long errors) {
  printf("RESULT impl=%s workload=%s ops=%.0f secs=%.6f cpu_s=%.6f p50_us=%.2f errors=%ld\n", impl,
         workload, ops, secs, cpu, p50_us, errors);
  fflush(stdout);
}

/* A measurement that is a single value (memory), in `value`. */
static inline void report_value(const char *impl, const char *workload, double n, double value) {
  printf("RESULT impl=%s workload=%s ops=%.0f secs=0 cpu_s=0 p50_us=0 errors=0 value=%.1f\n", impl,
         workload, n, value);
  fflush(stdout);
}

/* Raises RLIMIT_NOFILE to the hard limit. */
static inline void raise_nofile(void) {
  struct rlimit rl;
  if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
  }
}

#endif
