/* sha256: FIPS 180-4 SHA-256, for provenance hashes (model headers, prompts). Streaming
 * init/update/final plus one-shot helpers that write the 64-char lower-case hex digest. */
#ifndef KV_SHA256_H
#define KV_SHA256_H

#include <stddef.h>
#include <stdint.h>

typedef struct {
    uint32_t h[8];
    uint64_t n_bytes;
    uint8_t block[64];
    size_t fill;
} sha256_ctx;

void sha256_init(sha256_ctx *c);
void sha256_update(sha256_ctx *c, const void *data, size_t n);
void sha256_final(sha256_ctx *c, uint8_t digest[32]);
/* hex: 65 bytes (64 hex chars + NUL) */
void sha256_hex_final(sha256_ctx *c, char hex[65]);
void sha256_hex(const void *data, size_t n, char hex[65]);

#endif
