// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * st-cpuburn: a CPU workload whose hot functions and their shares are known.
 *
 *   st-cpuburn [-d SECS] [--shares 50,30,20] [-t THREADS] [--wait-stdin] [--max-s S]
 *
 * Up to four leaf functions, burn_alpha, burn_beta, burn_gamma and
 * burn_delta, do pure register arithmetic (no calls, no syscalls, no memory
 * traffic): every sample a profiler takes in them has them as its leaf frame.
 * --shares gives each its percentage of the CPU time (1 to 4 integers summing
 * to 100, default 50,30,20: alpha, beta and gamma). The call chain is
 *   main -> burn_main_loop -> burn_X               (the main thread)
 *   start_thread -> burn_thread -> burn_main_loop -> burn_X   (-t: the others)
 * Every one of these functions, main included, sets up its frame pointer
 * whatever the compiler flags (KEEP_FRAME), so a frame-pointer unwinder sees
 * the whole chain; build with -fno-omit-frame-pointer all the same.
 *
 * The shares hold by CPU time, not by iterations, with no clock read inside
 * the hot code: burn_main_loop works in rounds of 10 ms of CPU; each round
 * calls each function once with an iteration count, and reads
 * CLOCK_THREAD_CPUTIME_ID before and after each call (outside the function).
 * The count is what the function's measured speed so far (its iterations per
 * CPU ns) says it needs to bring its CPU time to its share of the thread's
 * total: the first call runs a small fixed count, later ones correct any
 * error left by the previous rounds. So the time outside the functions is a
 * few syscalls per round (< 0.1 %), and the measured shares are the designed
 * ones within 0.001 after a fraction of a second.
 *
 * Each of THREADS threads (default 1) runs the same mix for SECS seconds of
 * wall time (default 3, up to 3 decimals). With --wait-stdin it first prints
 *   {"type": "ready", "pid"}
 * and reads one line from stdin (a tracer starts meanwhile), then burns.
 * At the end one JSON line:
 *   {"type": "done", "pid", "threads", "duration_s" (wall time of the burn),
 *    "cpu_s" (getrusage(RUSAGE_SELF) user + system, the whole process),
 *    "hot_cpu_s" (the thread CPU time measured around the hot calls, all
 *    threads), "shares": {"burn_alpha": 0.5, ...} (as designed),
 *    "measured": {"burn_alpha": 0.4998, ...} (each function's share of
 *    hot_cpu_s), "measured_cpu_s": {"burn_alpha": 1.49, ...}}
 * Exit status: 0 after the done line, 1 on a failure or after --max-s
 * (default 120, the bound of the whole run, --wait-stdin included), 2 for
 * bad options, 128 + the signal after SIGINT or SIGTERM (no done line).
 */
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#define PROG "st-cpuburn"
#define USAGE                                                                       \
	"usage: " PROG " [-d SECS] [--shares P,P,...] [-t THREADS] [--wait-stdin] " \
	"[--max-s S]"

#include "tool.h"

#define NFN_MAX 4
#define THREADS_MAX 64
#define DURATION_MAX_MS 3600000L
#define ROUND_NS 10000000.0 /* CPU time of one round of calls */
#define FIRST_ITERS 4096 /* a function's first call: a few microseconds */

/*
 * Out of reach of every interprocedural pass (inlining, cloning, splitting,
 * identical-code folding): each hot function stays one symbol of its own.
 */
#ifdef __clang__
#define NOIPA __attribute__((noinline))
#else
#define NOIPA __attribute__((noipa))
#endif

/*
 * Sets up the frame pointer whatever the flags: gcc 12 drops it from a leaf
 * that touches no stack even with -fno-omit-frame-pointer
 * -mno-omit-leaf-frame-pointer, and an unwinder then skips the leaf's caller.
 * Taking the frame address costs nothing beyond "push %rbp; mov %rsp,%rbp".
 */
#define KEEP_FRAME() __asm__ volatile("" : : "r"(__builtin_frame_address(0)))

typedef uint64_t (*burn_fn)(uint64_t n, uint64_t x);

struct plan {
	int nfn;
	double share[NFN_MAX]; /* fractions, summing to 1 */
	long long end_ns; /* CLOCK_MONOTONIC: when every thread stops */
};

/* One thread's accounting. */
struct burner {
	const struct plan *p;
	double cpu_ns[NFN_MAX]; /* measured around each call */
	double iters[NFN_MAX];
	double total_ns; /* sum of cpu_ns */
	uint64_t sink; /* keeps the arithmetic alive */
	pthread_t tid;
};

static volatile sig_atomic_t got_signal;

static void on_signal(int sig)
{
	got_signal = sig;
}

/* ---- the hot functions: registers only, no calls ------------------------- */

NOIPA uint64_t burn_alpha(uint64_t n, uint64_t x)
{
	uint64_t i;

	KEEP_FRAME();
	for (i = 0; i < n; i++) { /* xorshift64 */
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
	}
	return x;
}

NOIPA uint64_t burn_beta(uint64_t n, uint64_t x)
{
	uint64_t i;

	KEEP_FRAME();
	for (i = 0; i < n; i++) { /* a 64-bit LCG, output folded back */
		x = x * 6364136223846793005ULL + 1442695040888963407ULL;
		x ^= x >> 29;
	}
	return x;
}

NOIPA uint64_t burn_gamma(uint64_t n, uint64_t x)
{
	uint64_t i;

	KEEP_FRAME();
	for (i = 0; i < n; i++) { /* the murmur3 finaliser */
		x ^= x >> 33;
		x *= 0xff51afd7ed558ccdULL;
		x ^= x >> 33;
		x *= 0xc4ceb9fe1a85ec53ULL;
		x += i;
	}
	return x;
}

NOIPA uint64_t burn_delta(uint64_t n, uint64_t x)
{
	uint64_t i;

	KEEP_FRAME();
	for (i = 0; i < n; i++) { /* a Galois LFSR step plus a rotation */
		x = (x >> 1) ^ (-(x & 1) & 0xd800000000000000ULL);
		x = (x << 7 | x >> 57) + i;
	}
	return x;
}

static const char *const fn_name[NFN_MAX] = { "burn_alpha", "burn_beta", "burn_gamma",
					      "burn_delta" };
static const burn_fn fns[NFN_MAX] = { burn_alpha, burn_beta, burn_gamma, burn_delta };

/* ---- the loop -------------------------------------------------------------- */

static double thread_cpu_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

/*
 * Iterations for function f this round: enough to bring its CPU time to its
 * share of the total after the round, at its speed so far, within 0..2 of
 * its per-round share.
 */
static uint64_t round_iters(const struct burner *b, int f)
{
	double share = b->p->share[f];
	double want = share * (b->total_ns + ROUND_NS) - b->cpu_ns[f];

	if (share <= 0 || want <= 0)
		return 0;
	if (b->cpu_ns[f] <= 0)
		return FIRST_ITERS;
	if (want > 2 * share * ROUND_NS)
		want = 2 * share * ROUND_NS;
	return (uint64_t)(want * b->iters[f] / b->cpu_ns[f]) + 1;
}

/* Rounds until the end time or a signal; the clocks are read out here, not in burn_X. */
NOIPA void burn_main_loop(struct burner *b)
{
	const struct plan *p = b->p;
	uint64_t x = 0x9e3779b97f4a7c15ULL ^ (uint64_t)(uintptr_t)b;
	int f;

	KEEP_FRAME();
	while (!got_signal && now_ns() < p->end_ns) {
		uint64_t n[NFN_MAX];

		/* All counts from the totals before the round: no function sees another's. */
		for (f = 0; f < p->nfn; f++)
			n[f] = round_iters(b, f);
		for (f = 0; f < p->nfn; f++) {
			double t0, t1;

			if (!n[f])
				continue;
			t0 = thread_cpu_ns();
			x = fns[f](n[f], x | 1);
			t1 = thread_cpu_ns();
			b->cpu_ns[f] += t1 - t0;
			b->iters[f] += (double)n[f];
			b->total_ns += t1 - t0;
		}
	}
	b->sink = x;
}

NOIPA static void *burn_thread(void *arg)
{
	KEEP_FRAME();
	burn_main_loop(arg);
	return NULL;
}

/* ---- options --------------------------------------------------------------- */

struct opts {
	long duration_ms;
	long threads;
	long max_s;
	bool wait_stdin;
	struct plan plan;
};

/* "50,30,20": 1..4 percentages summing to 100. */
static void parse_shares(const char *arg, struct plan *p)
{
	const char *s = arg;
	long sum = 0, v;
	int n = 0;

	for (;;) {
		const char *comma = strchr(s, ',');
		char buf[8];
		size_t len = comma ? (size_t)(comma - s) : strlen(s);

		if (n == NFN_MAX || len >= sizeof(buf))
			break;
		memcpy(buf, s, len);
		buf[len] = '\0';
		if (parse_long(buf, 0, 100, &v))
			break;
		p->share[n++] = (double)v / 100.0;
		sum += v;
		if (!comma) {
			if (sum != 100)
				break;
			p->nfn = n;
			return;
		}
		s = comma + 1;
	}
	usage_error("--shares wants 1..4 comma-separated percentages summing to 100, got", arg);
}

static void parse_args(int argc, char **argv, struct opts *o)
{
	const struct num_opt nums[] = {
		{ "--threads", 1, THREADS_MAX, &o->threads },
		{ "--max-s", 1, 7200, &o->max_s },
	};
	static const struct short_opt shorts[] = { { "-d", "--duration" }, { "-t", "--threads" } };
	int i;

	memset(o, 0, sizeof(*o));
	o->duration_ms = 3000;
	o->threads = 1;
	o->max_s = 120;
	parse_shares("50,30,20", &o->plan);
	for (i = 1; i < argc; i++) {
		const char *a = argv[i], *val;
		char key[32];

		opt_help(a);
		if (!strcmp(a, "--wait-stdin")) {
			o->wait_stdin = true;
			continue;
		}
		val = opt_value_short(argc, argv, &i, key, sizeof(key), shorts,
				      sizeof(shorts) / sizeof(shorts[0]));
		if (opt_number(nums, sizeof(nums) / sizeof(nums[0]), key, val))
			continue;
		if (!strcmp(key, "--duration")) {
			if (parse_secs(val, DURATION_MAX_MS, &o->duration_ms) || !o->duration_ms)
				usage_error("-d wants 0.001..3600 seconds (up to 3 decimals), got",
					    val);
		} else if (!strcmp(key, "--shares")) {
			parse_shares(val, &o->plan);
		} else {
			usage_error("unknown option", key);
		}
	}
	if (o->duration_ms >= o->max_s * 1000L)
		usage_error("-d must be shorter than --max-s", NULL);
}

/* ---- the run --------------------------------------------------------------- */

static int stopped(void)
{
	if (got_signal == SIGALRM) {
		fprintf(stderr, PROG ": ran over --max-s; stopped\n");
		return 1;
	}
	fprintf(stderr, PROG ": %s\n", got_signal == SIGINT ? "interrupted" : "terminated");
	return 128 + got_signal;
}

static void check_signal(void *arg)
{
	if (got_signal)
		exit(stopped());
}

static double cpu_s(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
	       (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

static void print_map(const char *key, const double *v, int n, double scale)
{
	int f;

	printf(", \"%s\": {", key);
	for (f = 0; f < n; f++)
		printf("%s\"%s\": %.6f", f ? ", " : "", fn_name[f], v[f] * scale);
	printf("}");
}

static void print_done(const struct opts *o, const struct burner *b, double wall)
{
	double cpu[NFN_MAX] = { 0 }, total = 0;
	int f;
	long t;

	for (t = 0; t < o->threads; t++) {
		for (f = 0; f < o->plan.nfn; f++)
			cpu[f] += b[t].cpu_ns[f];
		total += b[t].total_ns;
	}
	printf("{\"type\": \"done\", \"pid\": %ld, \"threads\": %ld, \"duration_s\": %.6f, "
	       "\"cpu_s\": %.6f, \"hot_cpu_s\": %.6f",
	       (long)getpid(), o->threads, wall, cpu_s(), total / 1e9);
	print_map("shares", o->plan.share, o->plan.nfn, 1);
	print_map("measured", cpu, o->plan.nfn, total > 0 ? 1 / total : 0);
	print_map("measured_cpu_s", cpu, o->plan.nfn, 1e-9);
	printf("}\n");
}

int main(int argc, char **argv)
{
	static struct burner b[THREADS_MAX];
	struct opts o;
	double t0, t1;
	long t, started;
	int err;

	KEEP_FRAME();
	parse_args(argc, argv, &o);
	stop_signals(on_signal, o.max_s);
	if (o.wait_stdin) {
		printf("{\"type\": \"ready\", \"pid\": %ld}\n", (long)getpid());
		fflush(stdout);
		wait_line(check_signal, NULL);
		check_signal(NULL);
	}
	t0 = now_s();
	o.plan.end_ns = now_ns() + o.duration_ms * 1000000LL;
	for (t = 0; t < o.threads; t++)
		b[t].p = &o.plan;
	for (started = 1; started < o.threads; started++) {
		err = pthread_create(&b[started].tid, NULL, burn_thread, &b[started]);
		if (err) {
			fprintf(stderr, PROG ": pthread_create: %s\n", strerror(err));
			got_signal = -1; /* the threads already running stop at once */
			break;
		}
	}
	burn_main_loop(&b[0]);
	for (t = 1; t < started; t++)
		pthread_join(b[t].tid, NULL);
	t1 = now_s();
	if (got_signal == -1)
		return 1;
	if (got_signal)
		return stopped();
	print_done(&o, b, t1 - t0);
	return fflush(stdout) ? 1 : 0;
}
