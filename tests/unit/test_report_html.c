// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * report --format html: the page is one document with its data as JSON
 * inside <script type="application/json">, and nothing a process names
 * itself (comm, paths, stack frames, mark details) can end that element
 * or open markup of its own.
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
#include "cpumodel.h"
#include "model.h"
#include "report.h"
#include "testmodel.h"
#include "testutil.h"

#define T0 5000000000ULL
#define T(ms) (T0 + (uint64_t)(ms)*1000000ULL)
#define EVIL "</script><b>" /* a comm a process can give itself */
#define EVIL_FRAME "evil</script><img src=x onerror=alert(1)>_[k]"

struct page {
	struct model *m;
	char *html;
	size_t len;
};

/* One named stack (root first, the last nkernel frames kernel ones). */
static void cpu_stack(struct model *m, uint32_t id, const char *const *frames, uint16_t n,
		      uint16_t nkernel)
{
	char buf[sizeof(struct cpu_stack_rec) + 512];
	struct cpu_stack_rec *r = (struct cpu_stack_rec *)buf;
	size_t off = 0, i;

	memset(buf, 0, sizeof(buf));
	for (i = 0; i < n; i++) {
		size_t l = strlen(frames[i]) + 1;

		assert_true(off + l <= 512);
		memcpy(r->names + off, frames[i], l);
		off += l;
	}
	r->h.type = ST_CPU_STACK;
	r->h.ts = T(100);
	r->id = id;
	r->nframes = n;
	r->nkernel = nkernel;
	r->len = (uint32_t)off;
	r->h.size = (uint16_t)(sizeof(*r) + off);
	model_cpu_stack(m, r, sizeof(*r) + off);
}

/* count samples of pid on stack id, at ms; the host as busy as idle. */
static void cpu_samples(struct model *m, uint64_t ms, uint32_t pid, uint32_t stack, uint32_t count)
{
	const struct cpu_sample_ent e = { .pid = pid, .stack = stack, .count = count };

	tm_cpu_samples(m, T(ms), 2 * count, count, &e, 1);
}

/* A job whose process is called EVIL burns CPU in a kernel frame named EVIL_FRAME. */
static struct model *hostile_model(void)
{
	static const char *const frames[] = { "main", "work", EVIL_FRAME };
	struct model *m = tm_recording(T0, "db<1>&co");

	tm_seed(m, T0, 1, 0, "/usr/bin/systemd", "/init.scope");
	tm_seed(m, T0, 100, 1, "/usr/bin/sh", "/system.slice/evil.service");
	model_fork(m, T(10), 200, 100, T(10), EVIL, "/system.slice/evil.service", "/");
	model_mark(m, T(20), 200, MARK_TRIGGER, "exec=</script><script>alert(1)//");
	cpu_stack(m, 7, frames, 3, 1);
	cpu_samples(m, 1000, 200, 7, 40);
	cpu_samples(m, 2000, 200, 7, 60);
	model_exit(m, T(2500), 200, T(10), 0, EVIL);
	model_finalize(m, T(3000));
	return m;
}

static int setup(void **state)
{
	struct page *pg = calloc(1, sizeof(*pg));
	FILE *f;

	assert_non_null(pg);
	*state = pg;
	pg->m = hostile_model();
	f = open_memstream(&pg->html, &pg->len);
	assert_non_null(f);
	assert_int_equal(report_html(pg->m, f), 0);
	assert_int_equal(fclose(f), 0);
	test_keep("ST_HTML_OUT", pg->html, pg->len); /* to open it in a browser */
	return 0;
}

static int teardown(void **state)
{
	struct page *pg = *state;

	model_free(pg->m);
	free(pg->html);
	free(pg);
	return 0;
}

/* The data document: from its opening tag to the next "</script". */
static char *data_json(const struct page *pg)
{
	static const char open[] = "<script type=\"application/json\" id=\"st-data\">";
	const char *b = strstr(pg->html, open), *e;

	assert_non_null(b);
	b += strlen(open);
	e = strstr(b, "</script");
	assert_non_null(e);
	return strndup(b, (size_t)(e - b));
}

static void test_page_is_one_document(void **state)
{
	const struct page *pg = *state;

	assert_int_equal(strlen(pg->html), pg->len);
	assert_true(!strncmp(pg->html, "<!DOCTYPE html>", 15));
	assert_non_null(strstr(pg->html, "<meta charset=\"utf-8\">"));
	assert_true(pg->len > 16 && !strcmp(pg->html + pg->len - 8, "</html>\n"));
	/* the error collector, the data and the script: three elements, three ends */
	assert_int_equal(test_count(pg->html, "<script"), 3);
	assert_int_equal(test_count(pg->html, "</script>"), 3);
	assert_int_equal(test_count(pg->html, "</style>"), 1);
	/* the embedded script and style (user/html/) are in */
	assert_non_null(strstr(pg->html, "window.spiketrace.errors.push"));
	assert_non_null(strstr(pg->html, "selectCause"));
	assert_non_null(strstr(pg->html, ".topbar"));
	/* nothing is fetched: the page works from file:// with no network */
	assert_null(strstr(pg->html, "src=\""));
	assert_null(strstr(pg->html, "<link"));
	assert_null(strstr(pg->html, "url("));
	assert_null(strstr(pg->html, "@import"));
	assert_null(strstr(pg->html, "fetch("));
}

static void test_hostile_names_stay_text(void **state)
{
	const struct page *pg = *state;

	assert_null(strstr(pg->html, EVIL));
	assert_null(strstr(pg->html, "<b>"));
	assert_null(strstr(pg->html, "<img"));
	assert_null(strstr(pg->html, "<script>alert"));
	assert_null(strstr(pg->html, "db<1>"));
	assert_non_null(strstr(pg->html, "<title>spiketrace: db&lt;1&gt;&amp;co</title>"));
}

static void test_data_json_is_escaped_and_complete(void **state)
{
	const struct page *pg = *state;
	char *js = data_json(pg);

	/* no markup character at all inside the element; \u escapes instead */
	assert_null(strchr(js, '<'));
	assert_null(strchr(js, '>'));
	assert_null(strchr(js, '&'));
	assert_non_null(strstr(js, "\"\\u003c/script\\u003e\\u003cb\\u003e\""));
	assert_non_null(strstr(js, "\"host\":\"db\\u003c1\\u003e\\u0026co\""));
	assert_non_null(strstr(
		js, "evil\\u003c/script\\u003e\\u003cimg src=x onerror=alert(1)\\u003e_[k]"));
	/* the sections the script draws */
	assert_non_null(strstr(js, "\"causes\":[{\"name\":"));
	assert_non_null(strstr(js, "\"flame\":{\"period_ns\":10000000,\"total\":100,\"names\":["));
	assert_non_null(strstr(js, "\"stacks\":[[100,2,"));
	assert_non_null(strstr(js, "\"timeline\":{\"interval_s\":1,\"buckets\":4,"));
	assert_non_null(strstr(js, "{\"name\":\"cpu_s\",\"values\":[["));
	assert_non_null(strstr(js, "\"trigger\",200,\"exec=\\u003c/script\\u003e"));
	assert_non_null(strstr(js, "\"ooms\":[]"));
	assert_non_null(strstr(js, "\"tls\":[]"));
	assert_non_null(strstr(js, "\"tcp\":{"));
	/* braces balance: the writer closed everything it opened */
	assert_int_equal(test_count(js, "{"), test_count(js, "}"));
	assert_int_equal(test_count(js, "["), test_count(js, "]"));
	free(js);
}

static void test_empty_model_still_a_page(void **state)
{
	struct model *m = model_new(T0);
	char *html = NULL;
	size_t len = 0;
	FILE *f;

	(void)state;
	assert_non_null(m);
	model_finalize(m, T(1000));
	f = open_memstream(&html, &len);
	assert_non_null(f);
	assert_int_equal(report_html(m, f), 0);
	assert_int_equal(fclose(f), 0);
	assert_non_null(strstr(html, "\"causes\":[]"));
	assert_non_null(strstr(html, "\"flame\":null"));
	assert_int_equal(test_count(html, "</script>"), 3);
	free(html);
	model_free(m);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_page_is_one_document, setup, teardown),
		cmocka_unit_test_setup_teardown(test_hostile_names_stay_text, setup, teardown),
		cmocka_unit_test_setup_teardown(test_data_json_is_escaped_and_complete, setup,
						teardown),
		cmocka_unit_test(test_empty_model_still_a_page),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
