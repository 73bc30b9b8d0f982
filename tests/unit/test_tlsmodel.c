// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "model.h"
#include "tlsmodel.h"

#define SEC 1000000000ull

static struct tls_event hs(uint32_t pid, uint64_t ts, uint64_t lat_us, uint32_t flags,
			   const char *addr)
{
	struct tls_event e = { .ts = ts, .start_ns = ts - lat_us * 1000, .pid = pid };

	e.flags = flags;
	strcpy(e.comm, "nginx");
	strcpy(e.addr, addr);
	return e;
}

static void test_counts_and_quantiles(void **state)
{
	struct tls_model *t = calloc(1, sizeof(*t));
	const uint64_t t0 = 100 * SEC;
	struct tls_event e;
	struct tls_proc *p;
	int i;

	assert_non_null(t);
	tls_model_lib(t, 0, "/usr/lib/libssl.so.3", false);
	/* 99 full handshakes of 1000 us and one of 100000 us, second 0 and 1. */
	for (i = 0; i < 100; i++) {
		e = hs(7, t0 + (i < 60 ? 1 : SEC + 1), i == 99 ? 100000 : 1000,
		       TLS_F_OK | TLS_F_SERVER | TLS_F_ROLE_KNOWN, "127.0.0.2");
		assert_non_null(tls_model_hs(t, t0, &e));
	}
	e = hs(7, t0 + 2 * SEC, 200, TLS_F_OK | TLS_F_RESUMED | TLS_F_SERVER | TLS_F_ROLE_KNOWN,
	       "127.0.0.3");
	tls_model_hs(t, t0, &e);
	e = hs(7, t0 + 2 * SEC, 300, TLS_F_OK | TLS_F_RENEG | TLS_F_SERVER | TLS_F_ROLE_KNOWN,
	       "127.0.0.3");
	tls_model_hs(t, t0, &e);
	e = hs(7, t0 + 2 * SEC, 50, TLS_F_FAILED | TLS_F_SERVER | TLS_F_ROLE_KNOWN, "127.0.0.4");
	tls_model_hs(t, t0, &e);
	/* A client-side handshake: its peer is a server, not a client. */
	e = hs(7, t0 + 2 * SEC, 50, TLS_F_OK | TLS_F_ROLE_KNOWN, "10.0.0.1");
	tls_model_hs(t, t0, &e);

	p = hmap_get(&t->procs, 7);
	assert_non_null(p);
	assert_string_equal(p->lib, "/usr/lib/libssl.so.3");
	assert_int_equal(p->handshakes, 103);
	assert_int_equal(p->full, 102);
	assert_int_equal(p->resumed, 1);
	assert_int_equal(p->reneg, 1);
	assert_int_equal(p->failed, 1);
	assert_int_equal(p->per_s[0], 60);
	assert_int_equal(p->per_s[1], 40);
	assert_int_equal(p->per_s[2], 3);
	/* p50 near 1000 us, max near 100 ms: within a bucket's width. */
	assert_in_range(tls_proc_lat_q(p, 0.5), 960, 1040);
	assert_in_range(tls_proc_lat_q(p, 1.0), 96000, 104000);

	tls_model_sort(t);
	assert_int_equal(t->nclients, 3);
	assert_string_equal(t->clist->addr, "127.0.0.2");
	assert_int_equal(t->clist->handshakes, 100);
	assert_string_equal(t->clist->next->addr, "127.0.0.3");
	assert_int_equal(t->clist->next->handshakes, 2);
	assert_int_equal(t->clist->next->reneg, 1);
	assert_int_equal(t->clist->next->next->failed, 1);
	tls_model_free(t);
}

static void test_cpu_by_phase(void **state)
{
	struct tls_model *t = calloc(1, sizeof(*t));
	uint64_t s[TLS_PH_NR] = { 100, 50, 200, 300, 10 };
	struct tls_proc *p;

	assert_non_null(t);
	tls_model_cpu(t, 9, s, 1000000); /* 1 ms per sample */
	p = hmap_get(&t->procs, 9);
	assert_non_null(p);
	assert_true(tls_proc_cpu_s(p, TLS_PH_SIG) > 0.2999 &&
		    tls_proc_cpu_s(p, TLS_PH_SIG) < 0.3001);
	assert_true(tls_proc_cpu_s(p, TLS_PH_NR) == 0);
	tls_model_free(t);
}

/* Through the model: the job's series and totals come from its processes. */
static void test_model_series(void **state)
{
	struct model *m = model_new(0);
	struct exec_info x = { .ts = 1,
			       .pid = 50,
			       .ppid = 1,
			       .start_ns = 1,
			       .comm = "nginx",
			       .filename = "/usr/sbin/nginx",
			       .args = "nginx",
			       .args_len = 6 };
	uint64_t s[TLS_PH_NR] = { 0, 100, 100, 100, 0 };
	struct tls_event e;
	double v[8];
	struct job *j;
	int i;

	assert_non_null(m);
	model_exec(m, &x);
	for (i = 0; i < 5; i++) {
		e = hs(50, (uint64_t)(i < 3 ? 1 : 4) * SEC + 5, 100, TLS_F_OK, "");
		model_tls_hs(m, &e);
	}
	model_tls_cpu(m, 50, s, 10000000); /* 10 ms per sample */
	model_finalize(m, 6 * SEC);
	j = m->jobs;
	assert_non_null(j);
	assert_int_equal(j->tls_handshakes, 5);
	assert_true(j->tls_cpu_s > 2.999 && j->tls_cpu_s < 3.001);
	model_series_tls(m, j, 1, v, 7);
	assert_true(v[1] == 3 && v[4] == 2 && v[0] == 0 && v[2] == 0);
	model_free(m);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_counts_and_quantiles),
		cmocka_unit_test(test_cpu_by_phase),
		cmocka_unit_test(test_model_series),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
