/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/* Small helpers shared by userspace: a u64-keyed hash map, time, strings. */
#ifndef ST_UTIL_H
#define ST_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/* Open-addressing map from a non-zero u64 key to a pointer. */
struct hmap {
	uint64_t *keys;
	void **vals;
	size_t cap; /* power of two */
	size_t len;
};

void hmap_init(struct hmap *m);
void hmap_free(struct hmap *m);
void *hmap_get(const struct hmap *m, uint64_t key);
/* Inserts or replaces; returns 0 or -ENOMEM. key must not be 0. */
int hmap_put(struct hmap *m, uint64_t key, void *val);
void *hmap_del(struct hmap *m, uint64_t key);
/* A zeroed value of size bytes, put at key; NULL (nothing allocated) for key 0 or no memory. */
void *hmap_put_new(struct hmap *m, uint64_t key, size_t size);
/* Iteration: for (i = 0; hmap_next(m, &i, &k, &v); ) */
bool hmap_next(const struct hmap *m, size_t *iter, uint64_t *key, void **val);
/* free() of every value, then hmap_free(): for maps that own malloc'd values. */
void hmap_free_all(struct hmap *m);

/*
 * p (realloc'd) with room for need elements of elem bytes: the capacity
 * *cap doubles, from first; NULL when out of memory (p is then untouched).
 */
void *st_grow(void *p, size_t *cap, size_t need, size_t elem, size_t first);

/* FNV-1a of a string or of n bytes, never 0 (a valid hmap key). */
uint64_t st_hash_str(const char *s);
uint64_t st_hash_bytes(const void *b, size_t n);

uint64_t now_mono_ns(void);
uint64_t now_real_ns(void);

/* strncpy that always terminates and reports truncation (returns strlen(src)). */
size_t st_strlcpy(char *dst, const char *src, size_t size);
/* Copies a fixed-size kernel char array that may lack a NUL. */
void st_strfix(char *dst, size_t dstlen, const char *src, size_t srclen);
/* Parses a non-negative decimal integer in [min, max]; 0 or -EINVAL. */
int st_parse_u64(const char *s, uint64_t min, uint64_t max, uint64_t *out);
/* Parses a non-negative decimal number of seconds (e.g. "2.5"); 0 or -EINVAL. */
int st_parse_secs(const char *s, double min, double max, double *out);

#endif
