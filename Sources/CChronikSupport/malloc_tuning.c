#include "chronik_support.h"
#include <malloc.h>

int chronik_keep_large_blocks_on_the_heap(void) {
    // Blocks up to 32 MiB come from the heap instead of a fresh mmap (each
    // of which page-faults on every first touch and is unmapped at free),
    // and freed heap memory is kept for reuse instead of being trimmed and
    // faulted in again. Setting either turns glibc's dynamic thresholds off.
    int ok = mallopt(M_MMAP_THRESHOLD, 32 << 20);
    ok &= mallopt(M_TRIM_THRESHOLD, 256 << 20);
    return ok;
}
