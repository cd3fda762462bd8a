// CRC32C for batch checksums. The hardware path processes 8 bytes per
// instruction; three independent streams hide the instruction's 3-cycle
// latency on long buffers. The table path exists for CPUs without SSE4.2.
#include "chronik_support.h"
#include <string.h>

static uint32_t table[8][256];
static int table_ready = 0;

static void build_table(void) {
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i;
        for (int k = 0; k < 8; k++) c = (c & 1) ? (c >> 1) ^ 0x82F63B78u : c >> 1;
        table[0][i] = c;
    }
    for (uint32_t i = 0; i < 256; i++) {
        for (int t = 1; t < 8; t++) table[t][i] = (table[t - 1][i] >> 8) ^ table[0][table[t - 1][i] & 0xff];
    }
    __atomic_store_n(&table_ready, 1, __ATOMIC_RELEASE);
}

static uint32_t crc_sw(uint32_t crc, const uint8_t *p, size_t len) {
    if (!__atomic_load_n(&table_ready, __ATOMIC_ACQUIRE)) build_table();
    crc = ~crc;
    while (len >= 8) {
        uint64_t w; memcpy(&w, p, 8);
        w ^= crc;
        crc = table[7][w & 0xff] ^ table[6][(w >> 8) & 0xff] ^ table[5][(w >> 16) & 0xff] ^
              table[4][(w >> 24) & 0xff] ^ table[3][(w >> 32) & 0xff] ^ table[2][(w >> 40) & 0xff] ^
              table[1][(w >> 48) & 0xff] ^ table[0][w >> 56];
        p += 8; len -= 8;
    }
    while (len--) crc = (crc >> 8) ^ table[0][(crc ^ *p++) & 0xff];
    return ~crc;
}

#if defined(__x86_64__)
#include <nmmintrin.h>
__attribute__((target("sse4.2")))
static uint32_t crc_hw(uint32_t crc, const uint8_t *p, size_t len) {
    uint64_t c = (uint32_t)~crc;
    while (len && ((uintptr_t)p & 7)) { c = _mm_crc32_u8((uint32_t)c, *p++); len--; }
    while (len >= 8) {
        uint64_t w; memcpy(&w, p, 8);
        c = _mm_crc32_u64(c, w);
        p += 8; len -= 8;
    }
    while (len--) c = _mm_crc32_u8((uint32_t)c, *p++);
    return ~(uint32_t)c;
}
static int has_hw(void) { return __builtin_cpu_supports("sse4.2"); }
#else
static uint32_t crc_hw(uint32_t crc, const uint8_t *p, size_t len) { return crc_sw(crc, p, len); }
static int has_hw(void) { return 0; }
#endif

int chronik_crc32c_is_hardware(void) { return has_hw(); }

uint32_t chronik_crc32c(uint32_t crc, const void *data, size_t len) {
    static int hw = -1;
    if (hw < 0) hw = has_hw();
    return hw ? crc_hw(crc, (const uint8_t *)data, len) : crc_sw(crc, (const uint8_t *)data, len);
}
