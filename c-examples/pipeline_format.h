/* pipeline_format.h: the message format of the ipcring data tests, in C.
 *
 * The same rules as tests/common/msg.rs (the Rust side: the tests and
 * examples/pipeline.rs), so a message written by one language is checked byte for
 * byte by the other:
 *
 *     [producer u32][seq u64][payload: 0..=max_payload bytes][fnv u64]
 *
 * all little-endian. The payload's length and bytes are derived from (producer, seq)
 * with splitmix64; the trailing checksum is 64-bit FNV-1a over everything before it.
 * max_payload is the ring's msg_size - PIPE_OVERHEAD (from ipcring_info), so with
 * msg_size 256 lengths range over 20..=256 bytes.
 *
 * Header-only: every function is static inline. Needs only <stddef.h>, <stdint.h>
 * and <stdio.h>.
 */
#ifndef PIPELINE_FORMAT_H
#define PIPELINE_FORMAT_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* [producer u32][seq u64] */
#define PIPE_HEAD_LEN 12u
/* [fnv u64] */
#define PIPE_SUM_LEN 8u
/* Bytes a message carries besides its payload. */
#define PIPE_OVERHEAD (PIPE_HEAD_LEN + PIPE_SUM_LEN)

/* splitmix64's output function: a good 64-bit mix. */
static inline uint64_t pipe_mix(uint64_t x) {
    x += UINT64_C(0x9e3779b97f4a7c15);
    x = (x ^ (x >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
    x = (x ^ (x >> 27)) * UINT64_C(0x94d049bb133111eb);
    return x ^ (x >> 31);
}

/* FNV-1a, 64-bit. */
static inline uint64_t pipe_fnv1a(const unsigned char *p, size_t n) {
    uint64_t h = UINT64_C(0xcbf29ce484222325);
    for (size_t i = 0; i < n; i++) {
        h ^= p[i];
        h *= UINT64_C(0x00000100000001b3);
    }
    return h;
}

static inline uint64_t pipe_seed(uint32_t producer, uint64_t seq) {
    return pipe_mix(((uint64_t)producer << 48) ^ seq);
}

/* The payload length of message (producer, seq): 0..=max_payload, pseudo-random. */
static inline size_t pipe_payload_len(uint32_t producer, uint64_t seq, size_t max_payload) {
    return (size_t)(pipe_mix(pipe_seed(producer, seq) ^ 0x5eed) % ((uint64_t)max_payload + 1));
}

static inline void pipe_put_u32(unsigned char *p, uint32_t v) {
    for (int i = 0; i < 4; i++) p[i] = (unsigned char)(v >> (8 * i));
}

static inline void pipe_put_u64(unsigned char *p, uint64_t v) {
    for (int i = 0; i < 8; i++) p[i] = (unsigned char)(v >> (8 * i));
}

static inline uint32_t pipe_get_u32(const unsigned char *p) {
    uint32_t v = 0;
    for (int i = 0; i < 4; i++) v |= (uint32_t)p[i] << (8 * i);
    return v;
}

static inline uint64_t pipe_get_u64(const unsigned char *p) {
    uint64_t v = 0;
    for (int i = 0; i < 8; i++) v |= (uint64_t)p[i] << (8 * i);
    return v;
}

/* Byte k of the payload of (producer, seq) whose seed is s: byte k % 8 (little-endian)
 * of mix(s + k / 8). */
static inline void pipe_fill_payload(uint32_t producer, uint64_t seq, unsigned char *out, size_t n) {
    uint64_t s = pipe_seed(producer, seq);
    for (size_t k = 0; k * 8 < n; k++) {
        unsigned char w[8];
        pipe_put_u64(w, pipe_mix(s + k));
        for (size_t j = 0; j < 8 && k * 8 + j < n; j++) out[k * 8 + j] = w[j];
    }
}

/* Whether the n bytes at p are the payload of (producer, seq). */
static inline int pipe_payload_matches(uint32_t producer, uint64_t seq, const unsigned char *p, size_t n) {
    uint64_t s = pipe_seed(producer, seq);
    for (size_t k = 0; k * 8 < n; k++) {
        unsigned char w[8];
        pipe_put_u64(w, pipe_mix(s + k));
        for (size_t j = 0; j < 8 && k * 8 + j < n; j++)
            if (p[k * 8 + j] != w[j]) return 0;
    }
    return 1;
}

/* The length of message (producer, seq). */
static inline size_t pipe_msg_len(uint32_t producer, uint64_t seq, size_t max_payload) {
    return PIPE_OVERHEAD + pipe_payload_len(producer, seq, max_payload);
}

/* Writes message (producer, seq) into out (at least PIPE_OVERHEAD + max_payload bytes);
 * returns its length. */
static inline size_t pipe_encode(uint32_t producer, uint64_t seq, size_t max_payload, unsigned char *out) {
    size_t plen = pipe_payload_len(producer, seq, max_payload);
    pipe_put_u32(out, producer);
    pipe_put_u64(out + 4, seq);
    pipe_fill_payload(producer, seq, out + PIPE_HEAD_LEN, plen);
    pipe_put_u64(out + PIPE_HEAD_LEN + plen, pipe_fnv1a(out, PIPE_HEAD_LEN + plen));
    return PIPE_OVERHEAD + plen;
}

/* Checks a message's structure, checksum, payload length and payload bytes. Returns 0
 * and sets *producer and *seq, or returns -1 with the reason in err (err_cap bytes). */
static inline int pipe_decode(const unsigned char *msg, size_t len, size_t max_payload, uint32_t *producer,
                              uint64_t *seq, char *err, size_t err_cap) {
    if (len < PIPE_OVERHEAD) {
        snprintf(err, err_cap, "message of %zu bytes is shorter than %u", len, PIPE_OVERHEAD);
        return -1;
    }
    size_t body = len - PIPE_SUM_LEN;
    uint64_t sum = pipe_get_u64(msg + body);
    uint64_t want_sum = pipe_fnv1a(msg, body);
    if (sum != want_sum) {
        snprintf(err, err_cap, "bad checksum on a %zu-byte message: %016llx, computed %016llx", len,
                 (unsigned long long)sum, (unsigned long long)want_sum);
        return -1;
    }
    uint32_t p = pipe_get_u32(msg);
    uint64_t s = pipe_get_u64(msg + 4);
    size_t plen = body - PIPE_HEAD_LEN;
    size_t want = pipe_payload_len(p, s, max_payload);
    if (plen != want) {
        snprintf(err, err_cap, "producer %u seq %llu: payload of %zu bytes, expected %zu", (unsigned)p,
                 (unsigned long long)s, plen, want);
        return -1;
    }
    if (!pipe_payload_matches(p, s, msg + PIPE_HEAD_LEN, plen)) {
        snprintf(err, err_cap, "producer %u seq %llu: payload bytes differ", (unsigned)p, (unsigned long long)s);
        return -1;
    }
    *producer = p;
    *seq = s;
    return 0;
}

#endif /* PIPELINE_FORMAT_H */
