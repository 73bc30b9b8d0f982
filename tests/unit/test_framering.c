// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/* The flight recorder's ring (user/framering.c) and window baseline (user/winbase.c). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "cpu.h"
#include "framering.h"
#include "mem.h"
#include "proc.h"
#include "recording.h"
#include "tcp.h"
#include "tls.h"
#include "winbase.h"

#define SEC 1000000000ull

struct gone {
	uint64_t n, evicted, last_stamp;
	uint32_t last_seq;
	int bad_order;
};

static void on_gone(void *ctx, const struct fr_frame *f, int evicted)
{
	struct gone *g = ctx;
	uint32_t seq;

	memcpy(&seq, f->data, sizeof(seq));
	if (g->n && seq != g->last_seq + 1)
		g->bad_order = 1;
	g->last_seq = seq;
	g->n++;
	g->evicted += evicted != 0;
	g->last_stamp = f->stamp;
}

/* Frame seq: its payload starts with seq, then len - 4 bytes of seq's low byte. */
static void push_seq(struct framering *r, uint64_t stamp, uint32_t seq, uint32_t len)
{
	unsigned char buf[70000];

	assert_true(len >= 4 && len <= sizeof(buf));
	memcpy(buf, &seq, 4);
	memset(buf + 4, (int)(seq & 0xff), len - 4);
	assert_int_equal(fr_push(r, stamp, 1, buf, len), 0);
}

static void check_frame(const struct fr_frame *f, uint32_t seq, uint32_t len)
{
	uint32_t got;
	uint32_t i;

	assert_non_null(f);
	assert_int_equal(f->len, len);
	memcpy(&got, f->data, 4);
	assert_int_equal(got, seq);
	for (i = 4; i < len; i++)
		assert_int_equal(f->data[i], seq & 0xff);
}

static void test_push_iterate_prune(void **state)
{
	struct gone g = { 0 };
	struct framering *r = fr_new(8u << 20, on_gone, &g);
	const struct fr_frame *f;
	struct fr_iter it;
	struct fr_stats st;
	uint32_t i, n;

	(void)state;
	assert_non_null(r);
	assert_null(fr_first(r, 0, &it));
	/* 3000 frames of 1..999 bytes over 30 s: a few blocks. */
	for (i = 0; i < 3000; i++)
		push_seq(r, (uint64_t)i * 10000000ull, i, 4 + i % 996);
	fr_stats(r, &st);
	assert_int_equal(st.frames, 3000);
	assert_true(st.blocks >= 2);
	assert_int_equal(st.oldest, 0);
	for (n = 0, f = fr_first(r, 0, &it); f; f = fr_next(r, &it), n++)
		check_frame(f, n, 4 + n % 996);
	assert_int_equal(n, 3000);
	/* From the middle: the first frame stamped at or after it. */
	f = fr_first(r, 12345678900ull / 1000, &it); /* 12.3 ms -> frame 2 */
	check_frame(f, 2, 4 + 2);
	f = fr_first(r, 20 * SEC + 1, &it);
	check_frame(f, 2001, 4 + 2001 % 996);
	assert_null(fr_first(r, 31 * SEC, &it));
	/* Prune: every frame before 20 s leaves, oldest first, once. */
	fr_prune(r, 20 * SEC);
	assert_int_equal(g.n, 2000);
	assert_int_equal(g.evicted, 0);
	assert_false(g.bad_order);
	fr_stats(r, &st);
	assert_int_equal(st.frames, 1000);
	assert_int_equal(st.oldest, 20 * SEC);
	for (n = 2000, f = fr_first(r, 0, &it); f; f = fr_next(r, &it), n++)
		check_frame(f, n, 4 + n % 996);
	assert_int_equal(n, 3000);
	fr_prune(r, UINT64_MAX);
	fr_stats(r, &st);
	assert_int_equal(st.frames, 0);
	assert_int_equal(st.bytes, 0);
	assert_true(st.mapped <= 2 * FR_BLOCK); /* the emptied block and the spare */
	assert_null(fr_first(r, 0, &it));
	push_seq(r, 40 * SEC, 3000, 8);
	check_frame(fr_first(r, 0, &it), 3000, 8);
	fr_free(r);
}

/* Stamps never go back, so the oldest end stays the oldest. */
static void test_monotonic_stamps(void **state)
{
	struct framering *r = fr_new(0, NULL, NULL);
	const struct fr_frame *f;
	struct fr_iter it;

	(void)state;
	push_seq(r, 100, 0, 4);
	push_seq(r, 50, 1, 4);
	push_seq(r, 200, 2, 4);
	f = fr_first(r, 0, &it);
	assert_int_equal(f->stamp, 100);
	f = fr_next(r, &it);
	assert_int_equal(f->stamp, 100);
	f = fr_next(r, &it);
	assert_int_equal(f->stamp, 200);
	assert_null(fr_next(r, &it));
	assert_int_equal(fr_push(r, 1, 1, NULL, 4), -EINVAL);
	assert_int_equal(fr_push(r, 1, 1, NULL, 0), 0); /* an empty payload is fine */
	fr_free(r);
}

/* Over the cap the oldest go first, counted as evicted; memory stays under it. */
static void test_cap(void **state)
{
	struct gone g = { 0 };
	struct framering *r = fr_new(3 * FR_BLOCK, on_gone, &g);
	const struct fr_frame *f;
	struct fr_iter it;
	struct fr_stats st;
	uint32_t i, first;

	(void)state;
	for (i = 0; i < 20000; i++) {
		push_seq(r, i, i, 1000);
		fr_stats(r, &st);
		assert_true(st.mapped <= 3 * FR_BLOCK);
	}
	assert_true(g.evicted > 0);
	assert_int_equal(g.evicted, g.n);
	assert_false(g.bad_order);
	fr_stats(r, &st);
	assert_int_equal(st.evicted, g.evicted);
	assert_int_equal(st.last_evicted, g.last_stamp);
	assert_int_equal(st.frames + g.n, 20000);
	assert_true(st.bytes > 2 * FR_BLOCK - 2000); /* evicts whole blocks only */
	f = fr_first(r, 0, &it);
	memcpy(&first, f->data, 4);
	assert_int_equal(first, g.last_seq + 1);
	for (i = first; f; f = fr_next(r, &it), i++)
		check_frame(f, i, 1000);
	assert_int_equal(i, 20000);
	fr_free(r);
}

/* A frame larger than a block gets a block of its own size. */
static void test_big_frame(void **state)
{
	struct framering *r = fr_new(8 * FR_BLOCK, NULL, NULL);
	unsigned char *big = malloc(FR_BLOCK + 12345);
	const struct fr_frame *f;
	struct fr_iter it;
	struct fr_stats st;

	(void)state;
	assert_non_null(big);
	memset(big, 0xab, FR_BLOCK + 12345);
	push_seq(r, 1, 0, 100);
	assert_int_equal(fr_push(r, 2, 7, big, FR_BLOCK + 12345), 0);
	push_seq(r, 3, 2, 100);
	f = fr_first(r, 2, &it);
	assert_int_equal(f->type, 7);
	assert_int_equal(f->len, FR_BLOCK + 12345);
	assert_memory_equal(f->data, big, FR_BLOCK + 12345);
	check_frame(fr_next(r, &it), 2, 100);
	fr_prune(r, 3);
	fr_stats(r, &st);
	assert_int_equal(st.frames, 1);
	/* The small block is the spare; frame 2 fit in the big block's last page. */
	assert_true(st.mapped <= 3 * FR_BLOCK);
	/* Bigger than the cap itself: refused, nothing lost. */
	free(big);
	big = malloc(9 * FR_BLOCK);
	assert_non_null(big);
	assert_int_equal(fr_push(r, 4, 7, big, 9 * FR_BLOCK), -ENOMEM);
	fr_stats(r, &st);
	assert_int_equal(st.nomem, 1);
	free(big);
	fr_free(r);
}

/* Hours of a steady stream in a short window: the mapping does not grow. */
static void test_steady_flat(void **state)
{
	struct framering *r = fr_new(64u << 20, NULL, NULL);
	struct fr_stats st;
	size_t most = 0;
	uint64_t t;
	uint32_t i = 0;

	(void)state;
	for (t = 0; t < 3600 * SEC; t += SEC / 100) { /* 100 frames/s, 1 h */
		push_seq(r, t, i, 200 + i % 300);
		i++;
		if (t % SEC == 0) {
			fr_prune(r, t > 10 * SEC ? t - 10 * SEC : 0);
			fr_stats(r, &st);
			if (t > 60 * SEC && st.mapped > most)
				most = st.mapped;
			assert_true(st.mapped <= 4 * FR_BLOCK);
		}
	}
	assert_true(most > 0);
	fr_free(r);
}

/* ---- winbase ---------------------------------------------------------------- */

static struct mem_snap *snap1(uint64_t ts, uint32_t pid, uint64_t faults, uint64_t anon,
			      uint64_t peak, uint32_t *len)
{
	static struct mem_snap s;

	memset(&s, 0, sizeof(s));
	s.n = 1;
	s.e[0].pid = pid;
	s.e[0].faults = faults;
	s.e[0].st.rss[MEM_RSS_ANON] = anon;
	s.e[0].st.rss_peak = peak;
	s.e[0].st.reclaim_ns = faults * 10;
	s.e[0].st.reclaims = faults / 10;
	*len = offsetof(struct mem_snap, e) + sizeof(s.e[0]);
	s.h = (struct st_hdr){ .type = ST_MEM_SNAP, .size = *len, .ts = ts };
	return &s;
}

static void absorb_proc(struct winbase *b, uint16_t type, uint32_t pid, uint64_t ts)
{
	struct proc_exit x = { .h = { .type = type, .size = sizeof(x), .ts = ts }, .pid = pid };
	struct proc_fork fk = { .h = { .type = type, .size = sizeof(fk), .ts = ts }, .pid = pid };

	if (type == ST_PROC_EXIT)
		wb_absorb(b, REC_EVENT, &x, sizeof(x));
	else
		wb_absorb(b, REC_EVENT, &fk, sizeof(fk));
}

static void tick(struct winbase *b, uint64_t ts)
{
	struct rec_lost l = { .ts = ts, .bpf = ts / SEC, .user = 1 };

	wb_absorb(b, REC_LOST, &l, sizeof(l));
}

static void test_wb_mem(void **state)
{
	unsigned char out[sizeof(struct mem_snap)];
	const struct mem_snap *r;
	struct mem_snap *s;
	struct winbase b;
	uint32_t len;

	(void)state;
	wb_init(&b);
	/* Nothing absorbed: frames go out as they are. */
	s = snap1(1, 100, 500, 4096, 8192, &len);
	assert_ptr_equal(wb_rebase(&b, REC_EVENT, s, len, out), s);
	wb_absorb(&b, REC_EVENT, s, len);
	assert_int_equal(wb_entries(&b), 1);
	/* In the window: counted from the window's start. */
	s = snap1(2, 100, 800, 2048, 8192, &len);
	r = wb_rebase(&b, REC_EVENT, s, len, out);
	assert_ptr_equal(r, out);
	assert_int_equal(r->e[0].faults, 300);
	assert_int_equal(r->e[0].st.reclaim_ns, 3000);
	assert_int_equal(r->e[0].st.reclaims, 30);
	assert_int_equal(r->e[0].st.rss[MEM_RSS_ANON], 2048); /* a level, kept */
	/* The old peak is not the window's: its own is the most RSS seen in it. */
	assert_int_equal(r->e[0].st.rss_peak, 2048);
	s = snap1(3, 100, 900, 1024, 8192, &len);
	r = wb_rebase(&b, REC_EVENT, s, len, out);
	assert_int_equal(r->e[0].st.rss_peak, 2048);
	s = snap1(4, 100, 950, 16384, 16384, &len); /* a new peak, in the window */
	r = wb_rebase(&b, REC_EVENT, s, len, out);
	assert_int_equal(r->e[0].st.rss_peak, 16384);
	/* Another process: untouched entries. */
	s = snap1(4, 101, 7, 1, 1, &len);
	r = wb_rebase(&b, REC_EVENT, s, len, out);
	assert_int_equal(r->e[0].faults, 7);
	/* Below the baseline: a new process behind a reused pid; baseline dropped. */
	s = snap1(5, 100, 20, 1, 1, &len);
	r = wb_rebase(&b, REC_EVENT, s, len, out);
	assert_int_equal(r->e[0].faults, 20);
	assert_int_equal(wb_entries(&b), 0);
	/* A short or malformed record is never touched. */
	s = snap1(6, 100, 20, 1, 1, &len);
	s->h.size = 10;
	assert_ptr_equal(wb_rebase(&b, REC_EVENT, s, len, out), s);
	wb_free(&b);
}

/* A baseline lives as long as its process: exit, late snapshot, then forgotten. */
static void test_wb_lifetime(void **state)
{
	unsigned char out[sizeof(struct mem_snap)];
	const struct mem_snap *r;
	struct mem_snap *s;
	struct winbase b, c;
	uint32_t len;

	(void)state;
	wb_init(&b);
	wb_init(&c);
	s = snap1(1 * SEC, 200, 1000, 1, 1, &len);
	wb_absorb(&b, REC_EVENT, s, len);
	absorb_proc(&b, ST_PROC_EXIT, 200, 2 * SEC);
	/* Its last snapshot comes after the exit: still this process's. */
	assert_int_equal(wb_copy(&c, &b), 0);
	s = snap1(3 * SEC, 200, 1100, 1, 1, &len);
	r = wb_rebase(&c, REC_EVENT, s, len, out);
	assert_int_equal(r->e[0].faults, 100);
	wb_absorb(&b, REC_EVENT, s, len);
	tick(&b, 4 * SEC);
	assert_int_equal(wb_entries(&b), 2); /* mem + dead */
	tick(&b, 8 * SEC);
	assert_int_equal(wb_entries(&b), 0);
	/* A fork of the pid is a new process: its counts start from zero. */
	s = snap1(9 * SEC, 300, 1000, 1, 1, &len);
	wb_absorb(&b, REC_EVENT, s, len);
	absorb_proc(&b, ST_PROC_FORK, 300, 10 * SEC);
	assert_int_equal(wb_entries(&b), 0);
	/* The copy is independent of its source. */
	s = snap1(11 * SEC, 200, 1200, 1, 1, &len);
	r = wb_rebase(&c, REC_EVENT, s, len, out);
	assert_int_equal(r->e[0].faults, 200);
	wb_free(&b);
	wb_free(&c);
}

static bool alive_none(uint32_t pid)
{
	return pid == 7;
}

/* Exits never seen (filtered, lost): what /proc no longer has goes too. */
static void test_wb_reap(void **state)
{
	struct mem_snap *s;
	struct winbase b;
	uint32_t len;

	(void)state;
	wb_init(&b);
	s = snap1(1, 7, 10, 1, 1, &len);
	wb_absorb(&b, REC_EVENT, s, len);
	s = snap1(1, 8, 10, 1, 1, &len);
	wb_absorb(&b, REC_EVENT, s, len);
	wb_reap(&b, alive_none, 2 * SEC);
	assert_int_equal(wb_entries(&b), 3);
	tick(&b, 8 * SEC);
	assert_int_equal(wb_entries(&b), 1);
	wb_free(&b);
}

static void test_wb_counters(void **state)
{
	struct tcp_counts c = { .h = { .type = ST_TCP_COUNTS, .size = sizeof(c) } }, d;
	struct rec_lost l = { .ts = SEC, .bpf = 5, .user = 2 },
			l2 = { .ts = 2 * SEC, .bpf = 9, .user = 2 };
	unsigned char out[4096];
	const struct tcp_counts *rc;
	const struct rec_lost *rl;
	struct winbase b;

	(void)state;
	wb_init(&b);
	c.trans[3] = 10;
	c.resets_rx = 4;
	c.resets_tx = 1;
	c.retrans = 100;
	assert_ptr_equal(wb_rebase(&b, REC_EVENT, &c, sizeof(c), out), &c);
	wb_absorb(&b, REC_EVENT, &c, sizeof(c));
	d = c;
	d.trans[3] = 15;
	d.trans[4] = 2;
	d.resets_rx = 6;
	d.retrans = 100;
	rc = wb_rebase(&b, REC_EVENT, &d, sizeof(d), out);
	assert_int_equal(rc->trans[3], 5);
	assert_int_equal(rc->trans[4], 2);
	assert_int_equal(rc->resets_rx, 2);
	assert_int_equal(rc->resets_tx, 0);
	assert_int_equal(rc->retrans, 0);
	assert_ptr_equal(wb_rebase(&b, REC_LOST, &l, sizeof(l), out), &l);
	wb_absorb(&b, REC_LOST, &l, sizeof(l));
	rl = wb_rebase(&b, REC_LOST, &l2, sizeof(l2), out);
	assert_int_equal(rl->bpf, 4);
	assert_int_equal(rl->user, 0);
	assert_int_equal(rl->ts, 2 * SEC);
	wb_free(&b);
}

static void test_wb_tls_sched(void **state)
{
	unsigned char out[8192];
	struct tls_cpu_snap t = { .h = { .type = ST_TLS_CPU }, .n = 1 };
	struct {
		struct cpu_sched_rec r;
		struct cpu_sched_ent e[2];
	} sc = { 0 };
	uint32_t tlen = offsetof(struct tls_cpu_snap, e) + sizeof(t.e[0]);
	const struct tls_cpu_snap *rt;
	const struct cpu_sched_rec *rs;
	struct winbase b;

	(void)state;
	wb_init(&b);
	t.h.size = tlen;
	t.e[0].pid = 9;
	t.e[0].samples[TLS_PH_KX] = 50;
	wb_absorb(&b, REC_EVENT, &t, tlen);
	t.e[0].samples[TLS_PH_KX] = 80;
	t.e[0].samples[TLS_PH_RNG] = 3;
	rt = wb_rebase(&b, REC_EVENT, &t, tlen, out);
	assert_int_equal(rt->e[0].samples[TLS_PH_KX], 30);
	assert_int_equal(rt->e[0].samples[TLS_PH_RNG], 3);

	sc.r.h = (struct st_hdr){ .type = ST_CPU_SCHED, .size = sizeof(sc) };
	sc.r.n = 2;
	sc.e[0] = (struct cpu_sched_ent){
		.id = 9, .kind = CPU_CONC_TGID, .delay_ns = 1000, .delays = 10, .max_runnable = 2
	};
	sc.e[1] = (struct cpu_sched_ent){ .id = 12345, .kind = CPU_CONC_CGROUP, .delay_ns = 7 };
	wb_absorb(&b, REC_EVENT, &sc, sizeof(sc));
	sc.e[0].delay_ns = 1500;
	sc.e[0].delays = 11;
	rs = wb_rebase(&b, REC_EVENT, &sc, sizeof(sc), out);
	assert_int_equal(rs->e[0].delay_ns, 500);
	assert_int_equal(rs->e[0].delays, 1);
	assert_int_equal(rs->e[0].max_runnable, 2);
	assert_int_equal(rs->e[1].delay_ns, 7); /* cgroup entries are not cumulative */
	wb_free(&b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_push_iterate_prune),
		cmocka_unit_test(test_monotonic_stamps),
		cmocka_unit_test(test_cap),
		cmocka_unit_test(test_big_frame),
		cmocka_unit_test(test_steady_flat),
		cmocka_unit_test(test_wb_mem),
		cmocka_unit_test(test_wb_lifetime),
		cmocka_unit_test(test_wb_reap),
		cmocka_unit_test(test_wb_counters),
		cmocka_unit_test(test_wb_tls_sched),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
