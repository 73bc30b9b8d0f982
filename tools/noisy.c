// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * st-noisy: replays the noisy neighbour of scenario 3. Behind a load
 * balancer one function's burst of concurrent executions used up the
 * account's concurrency and every other function got throttled, with no
 * error in any log. Here one job fans out CPU-hungry workers while a small
 * latency-sensitive service runs beside it:
 *
 *   controller (this program, "st-noisy", in no cgroup of its own)
 *     service  "st-service"   in cgroup2 <mount>/--service-cgroup
 *     job      "st-noisyjob"  in cgroup2 <mount>/--cgroup (worker number -n)
 *       worker "st-worker" x (-n - 1)
 *
 * The cgroup2 mount is the first one in /proc/self/mounts; both groups are
 * created by us (an existing one is an error: pick another name), get no
 * limits (the point is plain contention for the CPUs) and are removed at the
 * end. Each child is born in its group (clone3 CLONE_INTO_CGROUP, as systemd
 * starts a unit: a tracer sees it there from its fork on; older kernels: it
 * moves itself in) and names itself with prctl(PR_SET_NAME): its fork event
 * still carries "st-noisy", its later samples and its exit the new name.
 *
 * The service wakes every --period-ms (default 10) on an absolute
 * CLOCK_MONOTONIC timer (clock_nanosleep, timer slack 1 ns), then does
 * --work-us (default 500) of arithmetic: an iteration count calibrated on its
 * own CPU time at start, so contention stretches it in wall time. Per wakeup
 * it records its lateness (the time it resumed minus the time it asked for)
 * and the kernel's count of the time it spent runnable but waiting for a CPU
 * (run_delay, the 2nd field of /proc/self/schedstat). A wakeup whose work
 * overran the next ones skips them, counting them as missed.
 *
 * The timeline: the service starts and calibrates; after --pre seconds
 * (default 1) of it alone the job forks -n - 1 workers (default 8 in all),
 * which sleep until a common start time, then each (the job too, as the
 * last worker: so exactly -n threads of the job run at once) a busy loop of
 * pure arithmetic until the same end time, -d seconds (default 4) later;
 * the job reaps them, then exits. --post seconds later (default 0.5) the service is stopped. With
 * --service-only no job runs (the "burst" window is where it would have
 * been: a control run); --no-service runs the job alone.
 *
 * One JSON line at the end (times in seconds since this program started):
 *   {"job_pid", "job_cgroup" ("/NAME": the path /proc/PID/cgroup shows after
 *    "0::"), "job_cgroup_id" (its cgroup2 id, the directory's inode),
 *    "job_cpu_s" (user + system of the job and its workers, from wait4),
 *    "workers", "worker_pids": [...] (the job's own pid last),
 *    "worker_cpu_s": [...],
 *    "service_pid", "service_cgroup", "service_cgroup_id", "service_cpu_s",
 *    "period_ms", "work_us", "burst_start_s", "burst_end_s" (the common
 *    start time; the end after reaping the last worker), "end_s",
 *    "service": {"before", "during", "after": {"wakeups", "missed",
 *      "late_mean_us", "late_p99_us", "late_max_us", "run_delay_us"}}}
 * A wakeup is in the phase its scheduled time falls in; p99 is the nearest
 * rank; the lateness figures are null without wakeups, run_delay_us (summed
 * over the phase's wakeups) is null when schedstat is unreadable. The job's
 * fields are null with --service-only (workers 0), the service's with
 * --no-service.
 *
 * Exit status: 0 after the JSON line, 1 on a failure or when the run
 * overruns pre + burst + post by 30 s, 2 for bad options, 128 + the signal
 * after SIGINT or SIGTERM. Each time every child is SIGKILLed (and whatever
 * is left in the two cgroups), reaped, and the cgroups removed first. The
 * children die with their parent (PR_SET_PDEATHSIG) if it is SIGKILLed; only
 * the empty cgroups are then left behind.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <mntent.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <linux/sched.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define PROG "st-noisy"
#define USAGE                                                                                 \
	"usage: " PROG " [-n WORKERS] [-d SECS] [--pre SECS] [--post SECS] [--period-ms MS] " \
	"[--work-us US] [--cgroup NAME] [--service-cgroup NAME] [--service-only | --no-service]"

#include "tool.h"

#define WORKERS_MAX 256
#define PHASE_MAX_MS 120000L /* -d, --pre, --post */
#define SLACK_S 30 /* the hard limit: pre + burst + post + this */
#define NAME_MAX_LEN 64
#define READY_WAIT_MS 5000 /* the service: in its cgroup and calibrated */
#define STOP_WAIT_MS 2000 /* beyond one period */
#define KILL_WAIT_MS 5000
#define RMDIR_WAIT_MS 2000
#define CALIB_ITERS 200000 /* one calibration call: about 0.2 ms */
#define CALIB_RUNS 5
#define SPIN_ITERS 16384 /* a worker reads the clock every 16384 iterations */
#define NS_PER_MS 1000000LL

#ifdef __clang__
#define NOIPA __attribute__((noinline))
#else
#define NOIPA __attribute__((noipa))
#endif

enum { PH_BEFORE, PH_DURING, PH_AFTER, NPH };

static const char *const phase_name[NPH] = { "before", "during", "after" };

/* One wakeup of the service. */
struct wake {
	long long sched_ns; /* CLOCK_MONOTONIC: asked for */
	long long late_ns; /* resumed minus asked for */
	long long run_delay_ns; /* schedstat run_delay after resuming; -1 unreadable */
	long missed; /* later periods its work overran */
};

/* MAP_SHARED between the controller, the service and the job. */
struct shared {
	int svc_state; /* 0 starting, 1 ready, -errno failed (atomic) */
	int stop; /* the service stops at its next wakeup (atomic) */
	long long run_delay0_ns; /* the service's run_delay before its first sleep */
	long nwake;
	int job_err; /* errno: the job could not move or fork */
	const char *job_step; /* what failed; a string literal, same address in all */
	long long burst_start_ns, burst_end_ns;
	int nworkers;
	pid_t worker_pid[WORKERS_MAX];
	double worker_cpu_s[WORKERS_MAX];
	struct wake w[]; /* cap_wake of them */
};

struct opts {
	long workers;
	long burst_ms, pre_ms, post_ms;
	long period_ms;
	long work_us;
	const char *cgroup;
	const char *svc_cgroup;
	bool job; /* false with --service-only */
	bool service; /* false with --no-service */
};

enum { CG_JOB, CG_SVC, NCG };

struct run {
	const struct opts *o;
	long long t0; /* CLOCK_MONOTONIC ns at start */
	long long hard_end; /* no child outlives this */
	char mount[PATH_MAX];
	char dir[NCG][PATH_MAX + NAME_MAX_LEN + 2]; /* "" when not (or no longer) made */
	unsigned long long cg_id[NCG];
	struct shared *sh;
	size_t sh_len;
	long cap_wake;
	pid_t job, svc; /* 0 when not running (reaped) */
	pid_t job_pid, svc_pid; /* for the output */
	double job_cpu_s, svc_cpu_s;
	long long svc_ready_ns;
};

static volatile sig_atomic_t got_signal;
static volatile uint64_t sink; /* keeps the arithmetic alive */

static void on_signal(int sig)
{
	got_signal = sig;
}

/* ---- options -------------------------------------------------------------- */

/* Letters, digits, '.', '_', '-'; not starting with '.' or '-': one cgroup directory. */
static const char *cgroup_name(const char *key, const char *val)
{
	size_t n = strlen(val), i;
	bool ok = n > 0 && n <= NAME_MAX_LEN && val[0] != '.' && val[0] != '-';
	char what[128];

	for (i = 0; ok && i < n; i++) {
		char ch = val[i];

		ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
		     (ch >= '0' && ch <= '9') || ch == '.' || ch == '_' || ch == '-';
	}
	if (!ok) {
		snprintf(what, sizeof(what),
			 "%s wants 1..64 of [A-Za-z0-9._-], not starting with '.' or '-', got",
			 key);
		usage_error(what, val);
	}
	return val;
}

static void parse_secs_opt(const char *key, const char *val, long min_ms, long *dst)
{
	char what[96];

	if (!parse_secs(val, PHASE_MAX_MS, dst) && *dst >= min_ms)
		return;
	snprintf(what, sizeof(what), "%s wants %s..120 seconds (up to 3 decimals), got", key,
		 min_ms ? "0.001" : "0");
	usage_error(what, val);
}

static bool parse_flag(const char *a, struct opts *o)
{
	opt_help(a);
	if (!strcmp(a, "--service-only"))
		o->job = false;
	else if (!strcmp(a, "--no-service"))
		o->service = false;
	else
		return false;
	return true;
}

static void parse_args(int argc, char **argv, struct opts *o)
{
	const struct num_opt nums[] = {
		{ "--workers", 1, WORKERS_MAX, &o->workers },
		{ "--period-ms", 1, 1000, &o->period_ms },
		{ "--work-us", 1, 1000000, &o->work_us },
	};
	static const struct short_opt shorts[] = { { "-n", "--workers" }, { "-d", "--duration" } };
	int i;

	memset(o, 0, sizeof(*o));
	o->workers = 8;
	o->burst_ms = 4000;
	o->pre_ms = 1000;
	o->post_ms = 500;
	o->period_ms = 10;
	o->work_us = 500;
	o->cgroup = "st-noisy-job";
	o->svc_cgroup = "st-noisy-service";
	o->job = o->service = true;
	for (i = 1; i < argc; i++) {
		const char *val;
		char key[32];

		if (parse_flag(argv[i], o))
			continue;
		val = opt_value_short(argc, argv, &i, key, sizeof(key), shorts,
				      sizeof(shorts) / sizeof(shorts[0]));
		if (opt_number(nums, sizeof(nums) / sizeof(nums[0]), key, val))
			continue;
		if (!strcmp(key, "--duration"))
			parse_secs_opt("-d", val, 1, &o->burst_ms);
		else if (!strcmp(key, "--pre"))
			parse_secs_opt(key, val, 0, &o->pre_ms);
		else if (!strcmp(key, "--post"))
			parse_secs_opt(key, val, 0, &o->post_ms);
		else if (!strcmp(key, "--cgroup"))
			o->cgroup = cgroup_name(key, val);
		else if (!strcmp(key, "--service-cgroup"))
			o->svc_cgroup = cgroup_name(key, val);
		else
			usage_error("unknown option", key);
	}
	if (!o->job && !o->service)
		usage_error("--service-only and --no-service exclude each other", NULL);
	if (o->work_us * 2 > o->period_ms * 1000)
		usage_error("--work-us must be at most half of --period-ms", NULL);
	if (!strcmp(o->cgroup, o->svc_cgroup))
		usage_error("--cgroup and --service-cgroup must differ", NULL);
}

/* ---- teardown ------------------------------------------------------------- */

/* Every child, grandchild (we are their subreaper) and cgroup member: killed, reaped. */
static void kill_all(struct run *r)
{
	long long deadline = now_ms() + KILL_WAIT_MS;
	int c;

	for (;;) {
		int left = 0;

		if (r->job > 0)
			kill(r->job, SIGKILL);
		if (r->svc > 0)
			kill(r->svc, SIGKILL);
		for (c = 0; c < NCG; c++)
			if (r->dir[c][0])
				left += kill_cgroup(r->dir[c]);
		while (waitpid(-1, NULL, WNOHANG) > 0)
			;
		if (!left && no_children())
			break;
		if (now_ms() > deadline) {
			fprintf(stderr, PROG ": warning: children still alive after SIGKILL\n");
			break;
		}
		sleep_ms(10);
	}
	r->job = r->svc = 0;
}

static void remove_cgroups(struct run *r)
{
	int c;

	for (c = 0; c < NCG; c++) {
		if (!r->dir[c][0])
			continue;
		remove_cgroup(r->dir[c], RMDIR_WAIT_MS);
		r->dir[c][0] = '\0';
	}
}

static void __attribute__((noreturn, format(printf, 2, 3)))
bail(struct run *r, const char *fmt, ...)
{
	va_list ap;

	kill_all(r);
	remove_cgroups(r);
	fprintf(stderr, PROG ": ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\n");
	exit(1);
}

/* A signal arrived: SIGALRM is the hard limit, anything else an interruption. */
static void check_signal(struct run *r)
{
	int sig = got_signal;

	if (!sig)
		return;
	if (sig == SIGALRM)
		bail(r, "the run took over %lld s; children killed, cgroups removed",
		     (r->hard_end - r->t0) / 1000000000LL);
	kill_all(r);
	remove_cgroups(r);
	fprintf(stderr, PROG ": %s: children killed, cgroups removed\n",
		sig == SIGINT ? "interrupted" : "terminated");
	exit(128 + sig);
}

/* Sleeps until the CLOCK_MONOTONIC time t (ns), handling signals. */
static void sleep_until(struct run *r, long long t)
{
	for (;;) {
		long long left = t - now_ns();
		struct timespec ts;

		check_signal(r);
		if (left <= 0)
			return;
		ts.tv_sec = left / 1000000000LL;
		ts.tv_nsec = left % 1000000000LL;
		nanosleep(&ts, NULL);
	}
}

/* ---- cgroups -------------------------------------------------------------- */

static void find_cgroup2(struct run *r)
{
	FILE *f = setmntent("/proc/self/mounts", "re");
	struct mntent *m;

	if (!f)
		bail(r, "cannot read /proc/self/mounts: %s", strerror(errno));
	while ((m = getmntent(f))) {
		if (!strcmp(m->mnt_type, "cgroup2")) {
			snprintf(r->mount, sizeof(r->mount), "%s", m->mnt_dir);
			break;
		}
	}
	endmntent(f);
	if (!r->mount[0])
		bail(r, "no cgroup2 mount in /proc/self/mounts; mount -t cgroup2 none DIR");
}

static void make_cgroup(struct run *r, int c, const char *name)
{
	struct stat st;

	snprintf(r->dir[c], sizeof(r->dir[c]), "%s/%s", r->mount, name);
	if (mkdir(r->dir[c], 0755)) {
		int e = errno;

		r->dir[c][0] = '\0';
		if (e == EEXIST)
			bail(r, "cgroup %s/%s exists (left over? rmdir it); pick another name",
			     r->mount, name);
		bail(r, "mkdir %s/%s: %s%s", r->mount, name, strerror(e),
		     e == EACCES || e == EPERM ? "; run as root" : "");
	}
	if (stat(r->dir[c], &st) == 0)
		r->cg_id[c] = (unsigned long long)st.st_ino;
}

/* The calling process into cgroup DIR: 0 or an errno. */
static int enter_cgroup(const char *dir)
{
	char path[PATH_MAX + NAME_MAX_LEN + 16], pid[24];
	ssize_t n;
	int fd, e = 0;

	snprintf(path, sizeof(path), "%s/cgroup.procs", dir);
	snprintf(pid, sizeof(pid), "%ld\n", (long)getpid());
	fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return errno;
	n = write(fd, pid, strlen(pid));
	if (n != (ssize_t)strlen(pid))
		e = n < 0 ? errno : EIO;
	close(fd);
	return e;
}

/* ---- the children ---------------------------------------------------------- */

/*
 * First thing in every child: default signals, death with the parent, no
 * hold on our stdout (callers read it to EOF), its name, then its cgroup (if
 * any): 0 or an errno.
 */
static int child_init(pid_t parent, const char *comm, const char *cg_dir)
{
	int nul;

	signal(SIGINT, SIG_DFL);
	signal(SIGTERM, SIG_DFL);
	signal(SIGALRM, SIG_DFL);
	signal(SIGPIPE, SIG_DFL);
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (getppid() != parent)
		_exit(1); /* the parent is already gone */
	nul = open("/dev/null", O_RDWR | O_CLOEXEC);
	if (nul >= 0) {
		dup2(nul, 0);
		dup2(nul, 1);
		close(nul);
	}
	prctl(PR_SET_NAME, comm);
	return cg_dir ? enter_cgroup(cg_dir) : 0;
}

/* The service's work: N rounds of a 64-bit LCG. */
NOIPA uint64_t service_work(uint64_t n, uint64_t x)
{
	uint64_t i;

	for (i = 0; i < n; i++) {
		x = x * 6364136223846793005ULL + 1442695040888963407ULL;
		x ^= x >> 29;
	}
	return x;
}

static long long thread_cpu_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* Iterations of service_work for US of CPU: the fastest of a few timed runs. */
static uint64_t calibrate(long us, uint64_t *x)
{
	double best = 0;
	int i;

	for (i = 0; i < CALIB_RUNS; i++) {
		long long t0 = thread_cpu_ns(), dt;

		*x ^= service_work(CALIB_ITERS, *x | 1);
		dt = thread_cpu_ns() - t0;
		if (dt > 0 && CALIB_ITERS / (double)dt > best)
			best = CALIB_ITERS / (double)dt;
	}
	return (uint64_t)(best * (double)us * 1000.0) + 1;
}

/* run_delay (ns) from /proc/self/schedstat: "exec_runtime run_delay pcount"; -1 if unreadable. */
static long long run_delay(int fd)
{
	char buf[128];
	unsigned long long rt, rd;
	ssize_t n;

	if (fd < 0)
		return -1;
	n = pread(fd, buf, sizeof(buf) - 1, 0);
	if (n <= 0)
		return -1;
	buf[n] = '\0';
	if (sscanf(buf, "%llu %llu", &rt, &rd) != 2)
		return -1;
	return (long long)rd;
}

static void record_wake(struct run *r, long long sched, long long late, int fd)
{
	struct shared *sh = r->sh;
	struct wake *w;

	if (sh->nwake >= r->cap_wake)
		return;
	w = &sh->w[sh->nwake++];
	w->sched_ns = sched;
	w->late_ns = late;
	w->run_delay_ns = run_delay(fd);
	w->missed = 0;
}

/* Wakes every period on the absolute grid until told to stop (or the hard end). */
static void service_loop(struct run *r, uint64_t iters, uint64_t x, int fd)
{
	long long period = r->o->period_ms * NS_PER_MS, next = now_ns() + period;
	struct shared *sh = r->sh;

	while (!__atomic_load_n(&sh->stop, __ATOMIC_ACQUIRE) && next < r->hard_end) {
		struct timespec ts = { .tv_sec = next / 1000000000LL,
				       .tv_nsec = next % 1000000000LL };
		long long t;

		while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR)
			;
		t = now_ns();
		record_wake(r, next, t - next, fd);
		x = service_work(iters, x | 1);
		next += period;
		for (t = now_ns(); next <= t; next += period)
			if (sh->nwake > 0 && sh->nwake <= r->cap_wake)
				sh->w[sh->nwake - 1].missed++;
	}
	sink = x;
}

static void __attribute__((noreturn)) service_main(struct run *r, pid_t parent)
{
	struct shared *sh = r->sh;
	uint64_t iters, x = 0x9e3779b97f4a7c15ULL;
	int e = child_init(parent, "st-service", r->dir[CG_SVC]), fd;

	if (e) {
		__atomic_store_n(&sh->svc_state, -e, __ATOMIC_RELEASE);
		_exit(1);
	}
	prctl(PR_SET_TIMERSLACK, 1UL); /* lateness is then the wait for a CPU */
	iters = calibrate(r->o->work_us, &x);
	fd = open("/proc/self/schedstat", O_RDONLY | O_CLOEXEC);
	sh->run_delay0_ns = run_delay(fd);
	__atomic_store_n(&sh->svc_state, 1, __ATOMIC_RELEASE);
	service_loop(r, iters, x, fd);
	_exit(0);
}

/* A worker's whole life: arithmetic until END (CLOCK_MONOTONIC ns). */
NOIPA uint64_t worker_spin(long long end, uint64_t x)
{
	uint64_t i;

	while (now_ns() < end) {
		for (i = 0; i < SPIN_ITERS; i++) {
			x ^= x << 13;
			x ^= x >> 7;
			x ^= x << 17;
		}
	}
	return x;
}

/* Workers sleep until start: the burst begins with the job itself asleep in wait4. */
static void __attribute__((noreturn)) worker_main(pid_t job, long long start, long long end)
{
	struct timespec ts = { .tv_sec = start / 1000000000LL, .tv_nsec = start % 1000000000LL };

	child_init(job, "st-worker", NULL); /* the job's cgroup, inherited */
	while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR)
		;
	sink = worker_spin(end, (uint64_t)getpid());
	_exit(0);
}

static double rusage_s(const struct rusage *ru)
{
	return (double)(ru->ru_utime.tv_sec + ru->ru_stime.tv_sec) +
	       (double)(ru->ru_utime.tv_usec + ru->ru_stime.tv_usec) / 1e6;
}

/* The job's own share of the burst, as worker N. */
static void job_spin(struct shared *sh, pid_t self, long long end)
{
	struct timespec ts = { .tv_sec = sh->burst_start_ns / 1000000000LL,
			       .tv_nsec = sh->burst_start_ns % 1000000000LL };
	struct rusage before, after;
	int me = sh->nworkers++;

	sh->worker_pid[me] = self;
	while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR)
		;
	getrusage(RUSAGE_SELF, &before);
	sink = worker_spin(end, (uint64_t)self);
	getrusage(RUSAGE_SELF, &after);
	sh->worker_cpu_s[me] = rusage_s(&after) - rusage_s(&before);
}

static void __attribute__((noreturn)) job_main(struct run *r, pid_t parent)
{
	struct shared *sh = r->sh;
	pid_t self = getpid();
	long long end;
	int e = child_init(parent, "st-noisyjob", r->dir[CG_JOB]), i;

	if (e) {
		sh->job_step = "move into its cgroup";
		sh->job_err = e;
		_exit(1);
	}
	/*
	 * The job is its own last worker: N threads run at once, never N + 1
	 * (a job that only waited would wake, runnable, at each worker's exit
	 * while the others still run). Forking ends well before the start.
	 */
	sh->burst_start_ns = now_ns() + 20 * NS_PER_MS + r->o->workers * NS_PER_MS;
	end = sh->burst_start_ns + r->o->burst_ms * NS_PER_MS;
	for (i = 0; i < r->o->workers - 1; i++) {
		pid_t pid = fork();

		if (pid == 0)
			worker_main(self, sh->burst_start_ns, end);
		if (pid < 0) {
			sh->job_step = "fork a worker";
			sh->job_err = errno;
			break;
		}
		sh->worker_pid[sh->nworkers++] = pid;
	}
	if (!sh->job_err)
		job_spin(sh, self, end);
	for (i = 0; i < sh->nworkers; i++) {
		struct rusage ru;

		if (sh->worker_pid[i] == self)
			continue;
		if (sh->job_err)
			kill(sh->worker_pid[i], SIGKILL);
		while (wait4(sh->worker_pid[i], NULL, 0, &ru) < 0 && errno == EINTR)
			;
		sh->worker_cpu_s[i] = rusage_s(&ru);
	}
	sh->burst_end_ns = now_ns();
	_exit(sh->job_err ? 1 : 0);
}

/* ---- the controller ------------------------------------------------------- */

/*
 * Born in its cgroup (clone3 CLONE_INTO_CGROUP, as systemd starts units), so
 * a tracer sees the child in it from its fork on; plain fork then moving
 * itself when the kernel lacks it (< 5.7).
 */
static pid_t fork_into(const char *cg_dir)
{
	struct clone_args ca = { .exit_signal = SIGCHLD, .flags = CLONE_INTO_CGROUP };
	int fd = cg_dir ? open(cg_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC) : -1;
	pid_t pid = -1;

	if (fd >= 0) {
		ca.cgroup = (uint64_t)fd;
		pid = syscall(SYS_clone3, &ca, sizeof(ca));
		close(fd);
	}
	return pid < 0 ? fork() : pid;
}

static pid_t start_child(struct run *r, void (*child)(struct run *, pid_t), int cg)
{
	pid_t parent = getpid(), pid;

	fflush(NULL);
	pid = fork_into(r->dir[cg]);
	if (pid < 0)
		bail(r, "fork: %s", strerror(errno));
	if (pid == 0)
		child(r, parent);
	return pid;
}

static void start_service(struct run *r)
{
	long long deadline = now_ms() + READY_WAIT_MS;
	int state;

	r->svc = r->svc_pid = start_child(r, service_main, CG_SVC);
	while ((state = __atomic_load_n(&r->sh->svc_state, __ATOMIC_ACQUIRE)) == 0) {
		check_signal(r);
		if (waitpid(r->svc, NULL, WNOHANG) == r->svc) {
			r->svc = 0;
			bail(r, "the service died before it was ready");
		}
		if (now_ms() > deadline)
			bail(r, "the service was not ready within %d s", READY_WAIT_MS / 1000);
		sleep_ms(1);
	}
	if (state < 0)
		bail(r, "the service cannot enter cgroup %s: %s", r->dir[CG_SVC], strerror(-state));
	r->svc_ready_ns = now_ns();
}

/* Waits for PID (blocking; signals interrupt): its CPU time in s, its status in *st. */
static double reap(struct run *r, pid_t pid, int *st)
{
	struct rusage ru;

	while (wait4(pid, st, 0, &ru) < 0) {
		if (errno != EINTR)
			bail(r, "wait4 %ld: %s", (long)pid, strerror(errno));
		check_signal(r);
	}
	return rusage_s(&ru);
}

static void run_job(struct run *r)
{
	struct shared *sh = r->sh;
	int st;

	r->job = r->job_pid = start_child(r, job_main, CG_JOB);
	r->job_cpu_s = reap(r, r->job, &st);
	r->job = 0;
	if (sh->job_err)
		bail(r, "the job could not %s: %s", sh->job_step, strerror(sh->job_err));
	if (!WIFEXITED(st) || WEXITSTATUS(st))
		bail(r, "the job failed: %s %d", WIFEXITED(st) ? "exit" : "signal",
		     WIFEXITED(st) ? WEXITSTATUS(st) : WTERMSIG(st));
}

static void stop_service(struct run *r)
{
	long long deadline = now_ms() + r->o->period_ms + STOP_WAIT_MS;
	struct rusage ru;
	int st;
	pid_t w;

	__atomic_store_n(&r->sh->stop, 1, __ATOMIC_RELEASE);
	while ((w = wait4(r->svc, &st, WNOHANG, &ru)) == 0) {
		check_signal(r);
		if (now_ms() > deadline)
			bail(r, "the service did not stop within %ld ms",
			     r->o->period_ms + STOP_WAIT_MS);
		sleep_ms(2);
	}
	if (w < 0)
		bail(r, "wait4 %ld: %s", (long)r->svc, strerror(errno));
	r->svc_cpu_s = rusage_s(&ru);
	r->svc = 0;
	if (!WIFEXITED(st) || WEXITSTATUS(st))
		bail(r, "the service failed: %s %d", WIFEXITED(st) ? "exit" : "signal",
		     WIFEXITED(st) ? WEXITSTATUS(st) : WTERMSIG(st));
}

static void setup(struct run *r)
{
	const struct opts *o = r->o;
	long long total_ms = o->pre_ms + o->burst_ms + o->post_ms;

	r->hard_end = r->t0 + (total_ms / 1000 + 1 + SLACK_S) * 1000000000LL;
	prctl(PR_SET_CHILD_SUBREAPER, 1); /* a killed job's workers come back to us */
	find_cgroup2(r);
	r->cap_wake = o->service ? (total_ms + SLACK_S * 1000L) / o->period_ms + 16 : 0;
	r->sh_len = sizeof(struct shared) + (size_t)r->cap_wake * sizeof(struct wake);
	r->sh = mmap(NULL, r->sh_len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (r->sh == MAP_FAILED)
		bail(r, "mmap %zu bytes: %s", r->sh_len, strerror(errno));
	memset(r->sh, 0, sizeof(struct shared));
	if (o->job)
		make_cgroup(r, CG_JOB, o->cgroup);
	if (o->service)
		make_cgroup(r, CG_SVC, o->svc_cgroup);
}

/* ---- output --------------------------------------------------------------- */

static int cmp_ll(const void *a, const void *b)
{
	long long x = *(const long long *)a, y = *(const long long *)b;

	return (x > y) - (x < y);
}

static int phase_of(long long t, long long start, long long end)
{
	return t < start ? PH_BEFORE : t < end ? PH_DURING : PH_AFTER;
}

static void print_phase(const struct shared *sh, int ph, long long start, long long end)
{
	long long *late = malloc(((size_t)sh->nwake + 1) * sizeof(*late));
	long long prev = sh->run_delay0_ns, delay = 0, sum = 0;
	long i, n = 0, missed = 0;
	bool have_delay = prev >= 0;

	if (!late) {
		printf("\"%s\": null", phase_name[ph]);
		return;
	}
	for (i = 0; i < sh->nwake; i++) {
		const struct wake *w = &sh->w[i];

		if (w->run_delay_ns < 0 || prev < 0)
			have_delay = false;
		if (phase_of(w->sched_ns, start, end) == ph) {
			late[n++] = w->late_ns;
			sum += w->late_ns;
			missed += w->missed;
			delay += w->run_delay_ns - prev;
		}
		prev = w->run_delay_ns;
	}
	qsort(late, (size_t)n, sizeof(*late), cmp_ll);
	printf("\"%s\": {\"wakeups\": %ld, \"missed\": %ld", phase_name[ph], n, missed);
	if (n)
		printf(", \"late_mean_us\": %.1f, \"late_p99_us\": %.1f, \"late_max_us\": %.1f",
		       (double)sum / (double)n / 1e3, (double)late[(n * 99 + 99) / 100 - 1] / 1e3,
		       (double)late[n - 1] / 1e3);
	else
		printf(", \"late_mean_us\": null, \"late_p99_us\": null, \"late_max_us\": null");
	if (have_delay)
		printf(", \"run_delay_us\": %.1f}", (double)delay / 1e3);
	else
		printf(", \"run_delay_us\": null}");
	free(late);
}

static double rel_s(const struct run *r, long long t)
{
	return (double)(t - r->t0) / 1e9;
}

/* The job's or the service's pid, cgroup, cgroup id and CPU time; nulls when it did not run. */
static void print_member(const char *who, bool ran, pid_t pid, const char *cgroup,
			 unsigned long long cg_id, double cpu_s)
{
	if (ran)
		printf("\"%s_pid\": %ld, \"%s_cgroup\": \"/%s\", \"%s_cgroup_id\": %llu, "
		       "\"%s_cpu_s\": %.3f",
		       who, (long)pid, who, cgroup, who, cg_id, who, cpu_s);
	else
		printf("\"%s_pid\": null, \"%s_cgroup\": null, \"%s_cgroup_id\": null, "
		       "\"%s_cpu_s\": null",
		       who, who, who, who);
}

static void print_json(const struct run *r, long long start, long long end)
{
	const struct shared *sh = r->sh;
	const struct opts *o = r->o;
	int i, ph;

	printf("{");
	print_member("job", o->job, r->job_pid, o->cgroup, r->cg_id[CG_JOB], r->job_cpu_s);
	printf(", \"workers\": %d, \"worker_pids\": [", sh->nworkers);
	for (i = 0; i < sh->nworkers; i++)
		printf("%s%ld", i ? ", " : "", (long)sh->worker_pid[i]);
	printf("], \"worker_cpu_s\": [");
	for (i = 0; i < sh->nworkers; i++)
		printf("%s%.3f", i ? ", " : "", sh->worker_cpu_s[i]);
	printf("], ");
	print_member("service", o->service, r->svc_pid, o->svc_cgroup, r->cg_id[CG_SVC],
		     r->svc_cpu_s);
	printf(", \"period_ms\": %ld, \"work_us\": %ld, \"burst_start_s\": %.3f, "
	       "\"burst_end_s\": %.3f, \"end_s\": %.3f, \"service\": ",
	       o->period_ms, o->work_us, rel_s(r, start), rel_s(r, end), rel_s(r, now_ns()));
	if (o->service) {
		printf("{");
		for (ph = 0; ph < NPH; ph++) {
			printf("%s", ph ? ", " : "");
			print_phase(sh, ph, start, end);
		}
		printf("}");
	} else {
		printf("null");
	}
	printf("}\n");
}

int main(int argc, char **argv)
{
	static struct run r;
	struct opts o;
	long long start, end;

	r.t0 = now_ns();
	parse_args(argc, argv, &o);
	r.o = &o;
	stop_signals(on_signal, (o.pre_ms + o.burst_ms + o.post_ms) / 1000 + 1 + SLACK_S);
	setup(&r);
	if (o.service)
		start_service(&r);
	sleep_until(&r, now_ns() + o.pre_ms * NS_PER_MS);
	if (o.job) {
		run_job(&r);
		start = r.sh->burst_start_ns;
		end = r.sh->burst_end_ns;
	} else {
		start = now_ns();
		end = start + o.burst_ms * NS_PER_MS;
		sleep_until(&r, end);
	}
	sleep_until(&r, now_ns() + o.post_ms * NS_PER_MS);
	if (o.service)
		stop_service(&r);
	kill_all(&r); /* nothing should be left: makes sure */
	remove_cgroups(&r);
	print_json(&r, start, end);
	return fflush(stdout) ? 1 : 0;
}
