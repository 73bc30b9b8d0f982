// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * The network-volume part of the cause model (user/netmodel.c) without
 * BPF: ST_NET_BYTES and ST_NET_PEERS records built as user/net.c emits
 * them, then per process, per job, per timeline bucket, per peer, the
 * ranking, the JSON keys and the text report's columns.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "concern.h"
#include "model.h"
#include "net.h"
#include "netmodel.h"
#include "report.h"
#include "testmodel.h"

#define T0 (10 * SEC)
#define TS(s) (T0 + (uint64_t)((s)*SEC))
#define MB (1000ULL * 1000)

/* A bytes record at ts with entries e[n]; the kernel's totals rx/tx. */
static void bytes_rec(struct model *m, uint64_t ts, uint64_t rx, uint64_t tx,
		      const struct net_bytes_ent *e, size_t n)
{
	size_t size = sizeof(struct net_bytes_rec) + n * sizeof(*e);
	struct net_bytes_rec *r = calloc(1, size);

	assert_non_null(r);
	r->h = (struct st_hdr){ .type = ST_NET_BYTES, .size = (uint16_t)size, .ts = ts };
	r->source = NET_SRC_SOCK_LEN;
	r->total_rx = rx;
	r->total_tx = tx;
	r->n = (uint32_t)n;
	memcpy(r->e, e, n * sizeof(*e));
	model_net_bytes(m, r, size);
	free(r);
}

static void one(struct model *m, uint64_t ts, uint32_t pid, uint64_t rx, uint64_t tx,
		uint64_t tot_rx, uint64_t tot_tx)
{
	struct net_bytes_ent e = { .pid = pid, .rx = rx, .tx = tx };

	bytes_rec(m, ts, tot_rx, tot_tx, &e, 1);
}

static void peer_rec(struct model *m, uint64_t ts, const struct net_peer_ent *e, size_t n)
{
	size_t size = sizeof(struct net_peers_rec) + n * sizeof(*e);
	struct net_peers_rec *r = calloc(1, size);

	assert_non_null(r);
	r->h = (struct st_hdr){ .type = ST_NET_PEERS, .size = (uint16_t)size, .ts = ts };
	r->n = (uint32_t)n;
	memcpy(r->e, e, n * sizeof(*e));
	model_net_peers(m, r, size);
	free(r);
}

/* A download job (apt, child of cron) and a server; bytes over three seconds. */
static struct model *scene(void **state)
{
	struct model *m = tm_model_in(state, T0, concern_net.bit | concern_by_name("proc")->bit);

	tm_spawn(m, TS(0.1), 100, 1, "cron", "/system.slice/cron.service");
	tm_spawn(m, TS(0.2), 101, 100, "apt", "/system.slice/cron.service");
	tm_spawn(m, TS(0.1), 200, 1, "nginx", "/system.slice/nginx.service");
	one(m, TS(1.05), 101, 40 * MB, 1 * MB, 40 * MB, 1 * MB);
	one(m, TS(2.05), 101, 60 * MB, 1 * MB, 100 * MB, 2 * MB);
	one(m, TS(2.05), 200, 2 * MB, 100 * MB, 102 * MB, 102 * MB);
	/* a process the model never saw */
	one(m, TS(3.05), 999, 5, 7, 102 * MB + 5, 102 * MB + 7);
	return m;
}

static void test_per_process_and_job(void **state)
{
	struct model *m = scene(state);
	struct job *apt, *web;

	model_finalize(m, TS(3.5));
	assert_int_equal(model_find(m, 101)->net_rx, 100 * MB);
	assert_int_equal(model_find(m, 101)->net_tx, 2 * MB);
	apt = model_job_of(m, model_find(m, 101));
	web = model_job_of(m, model_find(m, 200));
	assert_int_equal(apt->net_rx, 100 * MB);
	assert_int_equal(apt->net_tx, 2 * MB);
	assert_int_equal(web->net_rx, 2 * MB);
	assert_int_equal(web->net_tx, 100 * MB);
	assert_int_equal(m->net->total_rx, 102 * MB + 5);
	assert_int_equal(m->net->attributed_rx, 102 * MB);
	assert_int_equal(m->net->unknown_rx, 5);
	assert_int_equal(m->net->unknown_tx, 7);
	assert_int_equal(job_rank_value(apt, RM_NET), 102 * MB);
	/* the two tie on bytes; nothing else ranks them */
	assert_true(apt->score > 0 && web->score > 0);
}

static void test_series_buckets(void **state)
{
	struct model *m = scene(state);
	double rx[8], tx[8];
	struct job *apt;
	size_t nb, b;
	double iv, sum = 0;

	model_finalize(m, TS(3.5));
	apt = model_job_of(m, model_find(m, 101));
	iv = model_interval_s(m);
	nb = model_nbuckets(m, iv);
	assert_true(nb <= 8);
	model_series_net(m, apt, iv, rx, tx, nb);
	/* a record at 1.05 s covers 0.05-1.05 s: the first second's bucket */
	assert_true(tm_near(rx[(size_t)(0.55 / iv)], 40.0 * MB, 1));
	assert_true(tm_near(rx[(size_t)(1.55 / iv)], 60.0 * MB, 1));
	for (b = 0; b < nb; b++)
		sum += rx[b];
	assert_true(tm_near(sum, 100.0 * MB, 1));
}

static void test_peers_ranked(void **state)
{
	struct model *m = scene(state);
	struct net_peer_ent mirror = { .family = 2, .inbound = 0, .port = 443, .rx = 3 * MB };
	struct net_peer_ent client = { .family = 2, .inbound = 1, .port = 80, .tx = 1 * MB };

	memcpy(mirror.addr, (uint8_t[]){ 10, 0, 0, 7 }, 4);
	memcpy(client.addr, (uint8_t[]){ 192, 168, 1, 9 }, 4);
	peer_rec(m, TS(1.05), (struct net_peer_ent[]){ mirror, client }, 2);
	mirror.rx = 5 * MB;
	peer_rec(m, TS(2.05), &mirror, 1);
	model_finalize(m, TS(3.5));
	assert_int_equal(m->net->npeers, 2);
	assert_string_equal(m->net->ranked[0]->addr, "10.0.0.7");
	assert_int_equal(m->net->ranked[0]->rx, 8 * MB);
	assert_int_equal(m->net->ranked[0]->port, 443);
	assert_false(m->net->ranked[0]->inbound);
	assert_string_equal(m->net->ranked[1]->addr, "192.168.1.9");
	assert_true(m->net->ranked[1]->inbound);
}

/* The JSON keys of docs/json.md and the text report's columns. */
static void test_reports(void **state)
{
	struct model *m = scene(state);
	char *buf = NULL;
	size_t len = 0;
	FILE *f;

	model_finalize(m, TS(3.5));
	f = open_memstream(&buf, &len);
	assert_non_null(f);
	report_json(m, f);
	fclose(f);
	assert_non_null(strstr(buf, "\"net_rx_bytes\": 100000000,"));
	assert_non_null(strstr(buf, "\"net_tx_bytes\": 2000000,"));
	assert_non_null(strstr(buf, "\"metric\": \"net_rx_bytes\""));
	assert_non_null(strstr(buf, "\"source\": \"sock_length\""));
	assert_non_null(strstr(buf, "\"unknown_process_rx_bytes\": 5,"));
	free(buf);
	buf = NULL;
	f = open_memstream(&buf, &len);
	assert_non_null(f);
	report_text(m, f, "test");
	fclose(f);
	assert_non_null(strstr(buf, "NET-RX NET-TX"));
	assert_non_null(strstr(buf, "network 95M in, 1.9M out"));
	free(buf);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_teardown(test_per_process_and_job, tm_teardown),
		cmocka_unit_test_teardown(test_series_buckets, tm_teardown),
		cmocka_unit_test_teardown(test_peers_ranked, tm_teardown),
		cmocka_unit_test_teardown(test_reports, tm_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
