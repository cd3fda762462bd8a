#ifndef CHRONIK_SUPPORT_H
#define CHRONIK_SUPPORT_H
#include <stddef.h>
#include <stdint.h>

/// CRC32C (Castagnoli, reflected polynomial 0x82F63B78) of `len` bytes,
/// continuing from `crc` (start with 0). Uses the SSE4.2 `crc32` instruction
/// when the CPU has it, a table otherwise; both give identical results.
uint32_t chronik_crc32c(uint32_t crc, const void *data, size_t len);

/// 1 when the hardware path is in use, 0 for the table fallback.
int chronik_crc32c_is_hardware(void);

/// Asks the CPU to bring the cache line at `address` in for writing; no
/// effect on any result (the id table fetches a slot a few inserts ahead).
static inline void chronik_prefetch(const void *address) {
    __builtin_prefetch(address, 1, 3);
}

/// Sets the calling thread's nice value (Linux: a thread's own scheduling
/// weight; raising it needs no privilege). 0 on success, else errno.
int chronik_set_thread_nice(int nice);

/// The calling thread's nice value.
int chronik_thread_nice(void);

/// Names the calling thread (at most 15 bytes are kept: /proc's `comm`,
/// what `top -H` and `perf` show).
void chronik_name_thread(const char *name);

/// Fills `count` bytes from the kernel's CSPRNG (getrandom(2), retried on
/// EINTR; at most 256 bytes come in one call). 0 on success, else errno.
int chronik_random_bytes(void *buffer, size_t count);

/// For a short-lived bulk process (glibc): allocations up to 32 MiB are
/// served from the heap, not mmap, and freed memory is not returned to the
/// kernel below 256 MiB. 1 when both settings took.
int chronik_keep_large_blocks_on_the_heap(void);

/// What fstat(2) tells of a file, but its times.
typedef struct {
    int64_t size;
    uint64_t links;
    uint64_t device;
    uint64_t inode;
    uint32_t mode;
} chronik_file_facts;

/// A file's size, links, device, inode and mode, without its times: on
/// Linux statx(2) asked for these only, so that the file's times are not
/// marked as read (fstat would make the next write stamp a fine-grained
/// time and dirty the inode, and an fdatasync then write the inode too).
/// Falls back to fstat where statx is missing. 0 on success, else errno.
int chronik_file_facts_of_fd(int fd, chronik_file_facts *facts);

/// The same for a path (following symbolic links, as stat(2)).
int chronik_file_facts_of_path(const char *path, chronik_file_facts *facts);

#endif
