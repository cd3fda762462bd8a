#define _GNU_SOURCE
#include "chronik_support.h"
#include <errno.h>
#include <pthread.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <stdio.h>
#include <unistd.h>

int chronik_set_thread_nice(int nice) {
    // On Linux, PRIO_PROCESS with a thread id sets that thread's nice value
    // (setpriority(2), "BUGS": the POSIX process-wide meaning is not Linux's).
    pid_t tid = (pid_t)syscall(SYS_gettid);
    return setpriority(PRIO_PROCESS, (id_t)tid, nice) == 0 ? 0 : errno;
}

int chronik_thread_nice(void) {
    errno = 0;
    return getpriority(PRIO_PROCESS, (id_t)syscall(SYS_gettid));
}

void chronik_name_thread(const char *name) {
    char short_name[16];
    snprintf(short_name, sizeof short_name, "%s", name);
    pthread_setname_np(pthread_self(), short_name);
}
