#include "chronik_support.h"
#include <errno.h>
#include <sys/random.h>

int chronik_random_bytes(void *buffer, size_t count) {
    unsigned char *p = buffer;
    while (count > 0) {
        ssize_t n = getrandom(p, count, 0);
        if (n < 0) {
            if (errno == EINTR) continue;
            return errno;
        }
        p += n;
        count -= (size_t)n;
    }
    return 0;
}
