// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "framering.h"

#define PAGE 4096u

/*
 * A block is one private anonymous mapping: returned to the kernel when it
 * leaves (munmap), so the process's RSS follows what the ring holds and does
 * not depend on how malloc keeps its free lists. One spare standard block is
 * kept to avoid a map/unmap pair every FR_BLOCK bytes.
 */
struct fr_block {
	struct fr_block *next;
	size_t size; /* mapped bytes, this header included */
	size_t used; /* bytes of frames after the header */
	uint64_t newest; /* stamp of its last frame */
};

struct framering {
	struct fr_block *head, *tail, *spare;
	size_t head_off; /* the oldest frame held, in head */
	size_t cap, mapped, nblocks;
	uint64_t frames, bytes, last_stamp;
	uint64_t evicted, last_evicted, nomem;
	fr_gone_cb gone;
	void *ctx;
};

static inline size_t pad8(size_t n)
{
	return (n + 7) & ~(size_t)7;
}

static inline size_t hdr_size(void)
{
	return pad8(sizeof(struct fr_block));
}

static inline unsigned char *bdata(const struct fr_block *b)
{
	return (unsigned char *)b + hdr_size();
}

static inline size_t frame_size(uint32_t len)
{
	return sizeof(struct fr_frame) + pad8(len);
}

struct framering *fr_new(size_t cap, fr_gone_cb gone, void *ctx)
{
	struct framering *r = calloc(1, sizeof(*r));

	if (!r)
		return NULL;
	r->cap = cap < 2 * FR_BLOCK ? 2 * FR_BLOCK : cap;
	r->gone = gone;
	r->ctx = ctx;
	return r;
}

static void unmap(struct framering *r, struct fr_block *b)
{
	r->mapped -= b->size;
	munmap(b, b->size);
}

/* A block leaves the ring: kept as the spare when it is a standard one. */
static void release(struct framering *r, struct fr_block *b)
{
	r->nblocks--;
	if (b->size == FR_BLOCK && !r->spare) {
		b->used = 0;
		b->next = NULL;
		r->spare = b;
		return;
	}
	unmap(r, b);
}

void fr_free(struct framering *r)
{
	struct fr_block *b, *n;

	if (!r)
		return;
	for (b = r->head; b; b = n) {
		n = b->next;
		unmap(r, b);
	}
	if (r->spare)
		unmap(r, r->spare);
	free(r);
}

/* Drops the oldest frame (it must exist). */
static void drop_oldest(struct framering *r, int evicted)
{
	struct fr_block *b = r->head;
	const struct fr_frame *f = (const void *)(bdata(b) + r->head_off);
	size_t sz = frame_size(f->len);

	if (evicted) {
		r->evicted++;
		r->last_evicted = f->stamp;
	}
	if (r->gone)
		r->gone(r->ctx, f, evicted);
	r->frames--;
	r->bytes -= sz;
	r->head_off += sz;
	if (r->head_off < b->used)
		return;
	r->head_off = 0;
	if (b == r->tail) {
		b->used = 0; /* empty: reuse in place */
		return;
	}
	r->head = b->next;
	release(r, b);
}

static int has_frames(const struct framering *r)
{
	return r->head && r->head_off < r->head->used;
}

/* Evicts whole blocks from the oldest end until size more bytes fit the cap. */
static void make_room(struct framering *r, size_t size)
{
	while (r->mapped + size > r->cap) {
		struct fr_block *b = r->head;

		if (r->spare) {
			unmap(r, r->spare);
			r->spare = NULL;
			continue;
		}
		if (!b)
			return;
		while (r->head == b && has_frames(r))
			drop_oldest(r, 1);
		if (r->head == b) {
			/* The only block, now empty: give it back too. */
			r->head = r->tail = NULL;
			r->head_off = 0;
			r->nblocks--;
			unmap(r, b);
		}
	}
}

static struct fr_block *new_block(struct framering *r, size_t need)
{
	size_t size = hdr_size() + need;
	struct fr_block *b;
	void *p;

	size = size <= FR_BLOCK ? FR_BLOCK : (size + PAGE - 1) & ~(size_t)(PAGE - 1);
	if (size == FR_BLOCK && r->spare) {
		b = r->spare;
		r->spare = NULL;
	} else {
		make_room(r, size);
		if (r->mapped + size > r->cap)
			return NULL;
		p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (p == MAP_FAILED)
			return NULL;
		b = p;
		b->size = size;
		r->mapped += size;
	}
	b->next = NULL;
	b->used = 0;
	b->newest = 0;
	r->nblocks++;
	if (r->tail)
		r->tail->next = b;
	else
		r->head = b;
	r->tail = b;
	return b;
}

int fr_push(struct framering *r, uint64_t stamp, uint32_t type, const void *payload, uint32_t len)
{
	size_t need = frame_size(len);
	struct fr_block *b = r->tail;
	struct fr_frame *f;

	if (len && !payload)
		return -EINVAL;
	if (!b || b->used + need > b->size - hdr_size()) {
		b = new_block(r, need);
		if (!b) {
			r->nomem++;
			return -ENOMEM;
		}
	}
	/* Stamps never go back: pruning and the window start rely on it. */
	if (stamp < r->last_stamp)
		stamp = r->last_stamp;
	r->last_stamp = stamp;
	f = (struct fr_frame *)(bdata(b) + b->used);
	f->stamp = stamp;
	f->type = type;
	f->len = len;
	if (len)
		memcpy(f->data, payload, len);
	memset(f->data + len, 0, pad8(len) - len);
	b->used += need;
	b->newest = stamp;
	r->frames++;
	r->bytes += need;
	return 0;
}

void fr_prune(struct framering *r, uint64_t before)
{
	while (has_frames(r)) {
		const struct fr_frame *f = (const void *)(bdata(r->head) + r->head_off);

		if (f->stamp >= before)
			break;
		drop_oldest(r, 0);
	}
}

const struct fr_frame *fr_next(const struct framering *r, struct fr_iter *it)
{
	const struct fr_frame *f;

	if (!it->b)
		return NULL;
	f = (const void *)(bdata(it->b) + it->off);
	it->off += frame_size(f->len);
	if (it->off >= it->b->used) {
		it->b = it->b->next;
		it->off = 0;
	}
	if (!it->b || it->off >= it->b->used)
		return NULL;
	return (const void *)(bdata(it->b) + it->off);
}

const struct fr_frame *fr_first(const struct framering *r, uint64_t from, struct fr_iter *it)
{
	const struct fr_frame *f;

	it->b = r->head;
	it->off = r->head_off;
	if (!has_frames(r)) {
		it->b = NULL;
		return NULL;
	}
	/* Whole blocks older than from are skipped by their newest stamp. */
	while (it->b && it->b->newest < from) {
		it->b = it->b->next;
		it->off = 0;
	}
	if (!it->b || it->off >= it->b->used) {
		it->b = NULL;
		return NULL;
	}
	f = (const void *)(bdata(it->b) + it->off);
	while (f && f->stamp < from)
		f = fr_next(r, it);
	return f;
}

void fr_stats(const struct framering *r, struct fr_stats *s)
{
	memset(s, 0, sizeof(*s));
	s->mapped = r->mapped;
	s->blocks = r->nblocks;
	s->frames = r->frames;
	s->bytes = r->bytes;
	s->evicted = r->evicted;
	s->last_evicted = r->last_evicted;
	s->nomem = r->nomem;
	if (has_frames(r))
		s->oldest = ((const struct fr_frame *)(bdata(r->head) + r->head_off))->stamp;
}
