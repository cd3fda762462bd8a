// Group commit in C with OS threads, for issue 13's 64-appender row
// (Benchmarks/README.md, stop 44): N threads each append one 250-byte
// record at a time to one file and wait until it is durable.
//   raw     each append alone: pwrite + fdatasync under one mutex (the
//           row's baseline, fsync per event; run it with 1 thread)
//   leader  leader/follower: the first waiter with no sync in flight
//           writes and fdatasyncs everything pending, the others sleep on
//           a condition variable until their record is durable
//   syncer  a thread of its own writes and fdatasyncs what is pending
//           (Chronik's writer thread, without the task runtime)
// Build and run:
//   cc -O2 -pthread -o /tmp/gcm Benchmarks/scripts/group-commit-model.c
//   /tmp/gcm raw 1 2000 /tmp/raw.bin; /tmp/gcm leader 64 64000 /tmp/l.bin; /tmp/gcm syncer 64 64000 /tmp/s.bin
#define _GNU_SOURCE
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <fcntl.h>
#include <time.h>
static int fd; static long total_per_thread;
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
static char buf[1<<20]; static size_t buflen; static long pending_seq, durable_seq; static int syncing; static off_t off;
static long groups;
static void* leader(void* a) {
  char rec[250]; memset(rec, 'x', sizeof rec);
  for (long i = 0; i < total_per_thread; i++) {
    pthread_mutex_lock(&mu);
    memcpy(buf + buflen, rec, sizeof rec); buflen += sizeof rec;
    long my = ++pending_seq;
    while (durable_seq < my) {
      if (!syncing) {
        syncing = 1;
        size_t n = buflen; long upto = pending_seq;
        static char out[1<<20]; memcpy(out, buf, n); buflen = 0;
        pthread_mutex_unlock(&mu);
        if (pwrite(fd, out, n, off) != (ssize_t)n) abort();
        off += n;
        fdatasync(fd);
        pthread_mutex_lock(&mu);
        durable_seq = upto; syncing = 0; groups++;
        pthread_cond_broadcast(&cv);
      } else pthread_cond_wait(&cv, &mu);
    }
    pthread_mutex_unlock(&mu);
  }
  return 0;
}
static int done_flag;
static pthread_cond_t work = PTHREAD_COND_INITIALIZER;
static void* appender(void* a) {
  char rec[250]; memset(rec, 'x', sizeof rec);
  for (long i = 0; i < total_per_thread; i++) {
    pthread_mutex_lock(&mu);
    memcpy(buf + buflen, rec, sizeof rec); buflen += sizeof rec;
    long my = ++pending_seq;
    pthread_cond_signal(&work);
    while (durable_seq < my) pthread_cond_wait(&cv, &mu);
    pthread_mutex_unlock(&mu);
  }
  return 0;
}
static void* syncer(void* a) {
  static char out[1<<20];
  pthread_mutex_lock(&mu);
  for (;;) {
    while (buflen == 0 && !done_flag) pthread_cond_wait(&work, &mu);
    if (buflen == 0 && done_flag) break;
    size_t n = buflen; long upto = pending_seq; memcpy(out, buf, n); buflen = 0;
    pthread_mutex_unlock(&mu);
    if (pwrite(fd, out, n, off) != (ssize_t)n) abort();
    off += n; fdatasync(fd);
    pthread_mutex_lock(&mu);
    durable_seq = upto; groups++;
    pthread_cond_broadcast(&cv);
  }
  pthread_mutex_unlock(&mu);
  return 0;
}
static void* raw(void* a) {
  char rec[250]; memset(rec, 'x', sizeof rec);
  for (long i = 0; i < total_per_thread; i++) {
    pthread_mutex_lock(&mu);
    if (pwrite(fd, rec, sizeof rec, off) != sizeof rec) abort();
    off += sizeof rec; fdatasync(fd); groups++;
    pthread_mutex_unlock(&mu);
  }
  return 0;
}
int main(int argc, char** argv) {
  int n = atoi(argv[2]); long total = atol(argv[3]); total_per_thread = total / n;
  fd = open(argv[4], O_CREAT|O_TRUNC|O_WRONLY, 0644);
  pthread_t t[256]; struct timespec a, b; clock_gettime(CLOCK_MONOTONIC, &a);
  pthread_t st; int sy = !strcmp(argv[1], "syncer");
  if (sy) pthread_create(&st, 0, syncer, 0);
  for (int i = 0; i < n; i++) pthread_create(&t[i], 0, sy ? appender : strcmp(argv[1], "raw") ? leader : raw, 0);
  for (int i = 0; i < n; i++) pthread_join(t[i], 0);
  if (sy) { pthread_mutex_lock(&mu); done_flag = 1; pthread_cond_signal(&work); pthread_mutex_unlock(&mu); pthread_join(st, 0); }
  clock_gettime(CLOCK_MONOTONIC, &b);
  double s = (b.tv_sec - a.tv_sec) + (b.tv_nsec - a.tv_nsec) / 1e9;
  printf("%s threads=%d events=%ld %.3f s %.0f ev/s groups=%ld (%.1f ev/group)\n", argv[1], n, total_per_thread*n, s, total_per_thread*n/s, groups, (double)total_per_thread*n/groups);
  return 0;
}
