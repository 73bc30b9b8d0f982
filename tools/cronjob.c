// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * st-cronjob: replays the process tree of scenario 1 (docs: SCENARIOS.md),
 * a cron job that ends up starting daemons, inside a cgroup of its own.
 *
 *   controller (this program, not part of the tree)
 *     A  level 1 ("cron")        moved into the cgroup(s), then exec'd
 *       B  level 2 ("run-parts")
 *         C  level 3 ("apt-update")
 *           D  level 4 ("pkgd")   exits with --exit-code
 *           E  level 4 ("fwupd")  exits with --exit-code
 *
 * Each tree process is this same binary exec'd through a symlink named after
 * it, so the kernel gives it that comm (comm is the basename of the path
 * passed to execve). Tree processes report "P pid ppid level starttime comm"
 * on a pipe inherited from the controller (its fd is in ST_CRONJOB_FD), hold
 * for --hold-ms, reap their children and exit. The controller then removes
 * the cgroups and the symlink directory and prints one JSON object.
 * --pid-file gets the level-1 pid (the root of the tree, for `-p`) as soon
 * as it is forked.
 *
 * Every parent reports "exit PID STATUS" (the raw wait status) for each child
 * it reaps; the controller reaps level 1 itself and, as a child subreaper,
 * the orphans of a parent that died first.
 *
 * Memory mode (--alloc-mb MB > 0) replays the memory-eating part. Each
 * level-4 daemon mmaps MB MiB of anonymous memory in --step-mb steps and
 * writes one byte per 4096 bytes so every page is resident (the region is
 * MADV_NOHUGEPAGE: one fault per 4 KiB page, not per 2 MiB), pausing
 * --step-ms after each step; the level-3 updater, once it has started the
 * daemons, does the same with a quarter of MB. After its last step a process
 * holds for --hold-ms, then exits. Every tree process reports
 * "mem PID PEAK_RSS PAGES" at start and after each step: the largest RSS it
 * saw in /proc/self/statm and the pages it has touched; the controller keeps
 * the latest line per pid, so a process killed mid-way keeps its last one.
 * --mem-limit MB sets the limit of the job's memory cgroup: v1
 * memory.limit_in_bytes, or cgroup2 memory.max when the memory controller is
 * on cgroup2. With the limit below what the tree allocates the cgroup
 * reclaims and the kernel OOM killer SIGKILLs one of the allocating processes.
 * The JSON then gains per process "peak_rss_bytes", "pages_touched",
 * "killed_by" (signal or null) and "exit_status" (raw wait status or null),
 * and "mem_limit_bytes", "oom_victims" (pids killed by SIGKILL),
 * "job_peak_rss_bytes" (sum of the measured peaks: an upper bound),
 * "cgroup_max_usage_bytes" (v1 memory.max_usage_in_bytes or cgroup2
 * memory.peak) and "cgroup_oom_kills" (oom_kill of v1 memory.oom_control or
 * cgroup2 memory.events), both read before the cgroup is removed, null when
 * unavailable.
 *
 * --download-mb MB adds the download of scenario 1's first symptom, the
 * network-in spike: before the tree starts, the controller forks a "mirror"
 * (outside the job's cgroups, comm "mirror") listening on 127.0.0.1 at a free
 * port; the level-3 updater, before it allocates, connects there and reads
 * until EOF the MB MiB the mirror sends, and reports what it read. The JSON
 * gains "mirror_pid", "download_pid" (the updater) and "download_bytes" (what
 * it read, null if it never reported).
 *
 * --distractor-ms MS starts, before the tree and outside its cgroups, an
 * unrelated child that burns CPU on arithmetic for MS ms under the comm
 * --distractor-name (default "busyloop", same symlink trick); its pid is
 * "distractor_pid" in the JSON. It is killed and reaped at the end at the
 * latest, and on every error or signal.
 *
 * On SIGINT/SIGTERM (or the hard 60 s alarm) the controller SIGKILLs the
 * tree: every pid it knows, every pid left in the cgroups, the distractor. It
 * is a child subreaper, so orphans come back to it and are reaped. Every tree
 * process has a parent-death signal (PR_SET_PDEATHSIG) whose handler
 * SIGKILLs the process unless it was handed to the controller, so killing the
 * controller outright takes the tree down with it (only the empty cgroups are
 * then left behind), while a parent killed by the OOM killer does not take
 * its children along. The distractor has PR_SET_PDEATHSIG(SIGKILL).
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdint.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define PROG "st-cronjob"
#define FD_ENV "ST_CRONJOB_FD"
#define CTL_ENV "ST_CRONJOB_CTL" /* the controller's pid */
#define PARENT_ENV "ST_CRONJOB_PARENT" /* the pid that forked this process */
#define MIRROR_ENV "ST_CRONJOB_MIRROR" /* the mirror's port on 127.0.0.1 */
#define DOWNLOAD_MAX_MB 4096
#define NNAMES 5
#define NAME_MAX_LEN 15 /* TASK_COMM_LEN - 1: longer names would be cut */
#define HOLD_MAX_MS 50000
#define HARD_LIMIT_S 60
#define KILL_WAIT_MS 5000
#define RMDIR_WAIT_MS 2000
#define RUN_MAX_MS 50000 /* allocation steps + hold: well inside HARD_LIMIT_S */
#define ALLOC_MAX_MB 4096
#define MEM_LIMIT_MAX_MB 65536
#define TOUCH_STRIDE 4096 /* one write per 4 KiB page */
#define MIB (1024ULL * 1024)
#define NSTATUS 16

#define USAGE                                                                                 \
	"usage: " PROG " [--cgroup NAME] [--names A,B,C,D,E] [--hold-ms MS] [--exit-code N] " \
	"[--pid-file F] [--mem-limit MB] [--alloc-mb MB] [--step-mb MB] [--step-ms MS] "      \
	"[--download-mb MB] [--distractor-ms MS] [--distractor-name NAME]"

#include "tool.h"

struct opts {
	const char *cgroup;
	const char *names_arg;
	char names[NNAMES][NAME_MAX_LEN + 1];
	long hold_ms;
	long exit_code;
	const char *pid_file;
	long mem_limit_mb; /* 0: no limit */
	long alloc_mb; /* per level-4 process; 0: no memory mode */
	long step_mb;
	long step_ms;
	long download_mb; /* 0: no download step */
	long distractor_ms; /* 0: no distractor */
	const char *distractor_name;
	/* Internal, set by the controller for the tree processes. */
	long level;
	const char *dir;
	long spin_ms; /* the distractor itself; -1 otherwise */
};

struct proc_rec {
	long pid;
	long ppid;
	long level;
	unsigned long long start; /* /proc/PID/stat starttime: guards against pid reuse */
	char comm[NAME_MAX_LEN + 1];
	long long peak_rss; /* latest "mem" report; -1 before any */
	long long pages;
};

struct wait_rec {
	long pid;
	int status; /* raw wait status */
};

enum { H_V2 = 0, H_MEM = 1, NHIER = 2 };

static const char *const hier_name[NHIER] = { "cgroup2", "v1 memory" };

struct ctl {
	char mount[NHIER][PATH_MAX]; /* "" when the hierarchy is not mounted */
	char cg_dir[NHIER][PATH_MAX]; /* the cgroup we made, "" if none */
	int cg_err[NHIER]; /* errno of a failed mkdir or move */
	char tmpdir[PATH_MAX]; /* "" once removed */
	int mem_h; /* hierarchy with the memory controller for our cgroup, -1 if none */
	pid_t level1;
	bool level1_reaped;
	int level1_status;
	pid_t distractor;
	bool distractor_reaped;
	pid_t mirror;
	bool mirror_reaped;
	long download_pid;
	long long download_bytes; /* -1 until the updater reports */
	struct proc_rec procs[NNAMES];
	int nprocs;
	struct wait_rec waits[NSTATUS]; /* from "exit" reports and our own reaping */
	int nwaits;
};

static volatile sig_atomic_t got_signal;
static volatile sig_atomic_t got_alarm;
static volatile sig_atomic_t ctl_pid; /* tree processes: the controller */

static void on_signal(int sig)
{
	got_signal = sig;
}

static void on_alarm(int sig)
{
	got_alarm = 1;
}

/*
 * Parent-death signal of a tree process. A parent that died while the
 * controller lives (say, killed by the OOM killer) hands us to the
 * controller, a subreaper: carry on. Anything else means the controller is
 * gone: die like PR_SET_PDEATHSIG(SIGKILL) would have made us.
 */
static void on_parent_death(int sig)
{
	if (getppid() != (pid_t)ctl_pid)
		kill(getpid(), SIGKILL);
}

static void sleep_until(long long deadline)
{
	for (;;) {
		long long left = deadline - now_ms();

		if (left <= 0)
			return;
		sleep_ms((long)left);
	}
}

static bool valid_name(const char *s, size_t max)
{
	size_t n = strlen(s);

	if (n == 0 || n > max || !strcmp(s, ".") || !strcmp(s, ".."))
		return false;
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;

		if (c <= ' ' || c >= 0x7f || c == '/' || c == ',' || c == '"' || c == '\\')
			return false;
	}
	return true;
}

static int split_names(const char *arg, char names[NNAMES][NAME_MAX_LEN + 1])
{
	const char *p = arg;
	int i;

	for (i = 0; i < NNAMES; i++) {
		const char *comma = strchr(p, ',');
		size_t n = comma ? (size_t)(comma - p) : strlen(p);
		char buf[NAME_MAX_LEN + 2];

		if ((comma == NULL) != (i == NNAMES - 1) || n > NAME_MAX_LEN)
			return -1;
		memcpy(buf, p, n);
		buf[n] = '\0';
		if (!valid_name(buf, NAME_MAX_LEN))
			return -1;
		strcpy(names[i], buf);
		p = comma ? comma + 1 : p + n;
	}
	return 0;
}

/* Allocation steps for TOTAL bytes. */
static long n_steps(const struct opts *o, unsigned long long total)
{
	unsigned long long step = (unsigned long long)o->step_mb * MIB;

	return (long)((total + step - 1) / step);
}

static void parse_args(int argc, char **argv, struct opts *o)
{
	int i;

	o->cgroup = NULL;
	o->names_arg = "cron,run-parts,apt-update,pkgd,fwupd";
	o->hold_ms = 1500;
	o->exit_code = 0;
	o->pid_file = NULL;
	o->mem_limit_mb = 0;
	o->alloc_mb = 0;
	o->step_mb = 16;
	o->step_ms = 100;
	o->distractor_ms = 0;
	o->download_mb = 0;
	o->distractor_name = "busyloop";
	o->level = 0;
	o->dir = NULL;
	o->spin_ms = -1;

	for (i = 1; i < argc; i++) {
		const char *a = argv[i];
		const char *val;
		char key[32];

		opt_help(a);
		val = opt_value(argc, argv, &i, key, sizeof(key));

		if (!strcmp(key, "--cgroup")) {
			o->cgroup = val;
		} else if (!strcmp(key, "--names")) {
			o->names_arg = val;
		} else if (!strcmp(key, "--hold-ms")) {
			if (parse_long(val, 0, HOLD_MAX_MS, &o->hold_ms))
				usage_error("--hold-ms wants 0..50000, got", val);
		} else if (!strcmp(key, "--exit-code")) {
			if (parse_long(val, 0, 255, &o->exit_code))
				usage_error("--exit-code wants 0..255, got", val);
		} else if (!strcmp(key, "--pid-file")) {
			if (!*val)
				usage_error("--pid-file wants a path", NULL);
			o->pid_file = val;
		} else if (!strcmp(key, "--mem-limit")) {
			if (parse_long(val, 0, MEM_LIMIT_MAX_MB, &o->mem_limit_mb))
				usage_error("--mem-limit wants 0..65536 (MiB), got", val);
		} else if (!strcmp(key, "--alloc-mb")) {
			if (parse_long(val, 0, ALLOC_MAX_MB, &o->alloc_mb))
				usage_error("--alloc-mb wants 0..4096 (MiB), got", val);
		} else if (!strcmp(key, "--step-mb")) {
			if (parse_long(val, 1, 1024, &o->step_mb))
				usage_error("--step-mb wants 1..1024 (MiB), got", val);
		} else if (!strcmp(key, "--step-ms")) {
			if (parse_long(val, 0, 10000, &o->step_ms))
				usage_error("--step-ms wants 0..10000, got", val);
		} else if (!strcmp(key, "--distractor-ms")) {
			if (parse_long(val, 0, HARD_LIMIT_S * 1000, &o->distractor_ms))
				usage_error("--distractor-ms wants 0..60000, got", val);
		} else if (!strcmp(key, "--download-mb")) {
			if (parse_long(val, 0, DOWNLOAD_MAX_MB, &o->download_mb))
				usage_error("--download-mb wants 0..4096 (MiB), got", val);
		} else if (!strcmp(key, "--distractor-name")) {
			o->distractor_name = val;
		} else if (!strcmp(key, "--spin-ms")) {
			if (parse_long(val, 0, HARD_LIMIT_S * 1000, &o->spin_ms))
				usage_error("--spin-ms (internal) wants 0..60000, got", val);
		} else if (!strcmp(key, "--level")) {
			if (parse_long(val, 1, 4, &o->level))
				usage_error("--level (internal) wants 1..4, got", val);
		} else if (!strcmp(key, "--dir")) {
			o->dir = val;
		} else {
			usage_error("unknown option", key);
		}
	}
	if (split_names(o->names_arg, o->names))
		usage_error("--names wants 5 comma-separated names of 1..15 printable characters "
			    "without '/', got",
			    o->names_arg);
	if (o->cgroup && !valid_name(o->cgroup, 200))
		usage_error("--cgroup wants one path component without spaces or '/', got",
			    o->cgroup);
	if (o->level && !o->dir)
		usage_error("--level is internal to the tree and needs --dir", NULL);
	if (!valid_name(o->distractor_name, NAME_MAX_LEN))
		usage_error("--distractor-name wants 1..15 printable characters without '/', got",
			    o->distractor_name);
	if (n_steps(o, (unsigned long long)o->alloc_mb * MIB) * o->step_ms + o->hold_ms >
	    RUN_MAX_MS)
		usage_error("ceil(alloc-mb / step-mb) * step-ms + hold-ms must be <= 50000", NULL);
}

/* ---- tree processes ------------------------------------------------------ */

static unsigned long long proc_starttime(long pid)
{
	char path[64], buf[1024];
	unsigned long long start = 0;
	ssize_t n;
	char *p;
	int fd, field;

	snprintf(path, sizeof(path), "/proc/%ld/stat", pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return 0;
	buf[n] = '\0';
	p = strrchr(buf, ')'); /* comm may hold spaces: fields count from here */
	if (!p)
		return 0;
	/* ") state" is field 3; starttime is field 22. */
	for (field = 2; field < 22 && p; field++)
		p = strchr(p + 1, ' ');
	if (p)
		start = strtoull(p + 1, NULL, 10);
	return start;
}

static void send_line(int fd, const char *line)
{
	size_t len = strlen(line);

	/* Shorter than PIPE_BUF: one write, never interleaved with others. */
	if (write(fd, line, len) != (ssize_t)len)
		fprintf(stderr, PROG ": write to the report pipe: %s\n", strerror(errno));
}

static void exec_level(const struct opts *o, long level, const char *name, int fd, pid_t parent)
{
	char path[PATH_MAX], lvl[24], hold[24], code[24], alloc[24], smb[24], sms[24], pstr[24];
	char dl[24];
	char *argv[22];
	int n = 0;
	char msg[128];

	snprintf(path, sizeof(path), "%s/%s", o->dir, name);
	snprintf(lvl, sizeof(lvl), "%ld", level);
	snprintf(hold, sizeof(hold), "%ld", o->hold_ms);
	snprintf(code, sizeof(code), "%ld", o->exit_code);
	snprintf(alloc, sizeof(alloc), "%ld", o->alloc_mb);
	snprintf(smb, sizeof(smb), "%ld", o->step_mb);
	snprintf(sms, sizeof(sms), "%ld", o->step_ms);
	snprintf(pstr, sizeof(pstr), "%ld", (long)parent);
	argv[n++] = (char *)name; /* argv[0] is the name, like the comm */
	argv[n++] = "--level";
	argv[n++] = lvl;
	argv[n++] = "--dir";
	argv[n++] = (char *)o->dir;
	argv[n++] = "--names";
	argv[n++] = (char *)o->names_arg;
	argv[n++] = "--hold-ms";
	argv[n++] = hold;
	argv[n++] = "--exit-code";
	argv[n++] = code;
	if (o->alloc_mb) {
		argv[n++] = "--alloc-mb";
		argv[n++] = alloc;
		argv[n++] = "--step-mb";
		argv[n++] = smb;
		argv[n++] = "--step-ms";
		argv[n++] = sms;
	}
	if (o->download_mb) {
		snprintf(dl, sizeof(dl), "%ld", o->download_mb);
		argv[n++] = "--download-mb";
		argv[n++] = dl;
	}
	argv[n] = NULL;
	setenv(PARENT_ENV, pstr, 1);
	execv(path, argv);
	snprintf(msg, sizeof(msg), "E %ld %s %d\n", level, name, errno);
	send_line(fd, msg);
	_exit(127);
}

/* Resident set size from /proc/self/statm (its 2nd field, in pages). */
static long long self_rss(void)
{
	char buf[256];
	unsigned long long size, resident;
	ssize_t n;
	int fd = open("/proc/self/statm", O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return 0;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return 0;
	buf[n] = '\0';
	if (sscanf(buf, "%llu %llu", &size, &resident) != 2)
		return 0;
	return (long long)(resident * (unsigned long long)sysconf(_SC_PAGESIZE));
}

static void send_mem(int fd, long long peak, long long pages)
{
	char msg[96];

	snprintf(msg, sizeof(msg), "mem %ld %lld %lld\n", (long)getpid(), peak, pages);
	send_line(fd, msg);
}

/*
 * Allocates TOTAL bytes in --step-mb steps, each a fresh anonymous mapping
 * written once per 4 KiB so it is really resident, and reports after each
 * step. The memory is kept until the process exits.
 */
static void alloc_steps(const struct opts *o, unsigned long long total, int fd)
{
	unsigned long long step = (unsigned long long)o->step_mb * MIB, done = 0;
	long long peak = self_rss(), pages = 0;

	send_mem(fd, peak, pages);
	while (done < total) {
		size_t len = (size_t)(total - done < step ? total - done : step);
		volatile char *p =
			mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		long long rss;
		size_t off;

		if (p == MAP_FAILED) {
			fprintf(stderr, PROG ": mmap %zu bytes: %s\n", len, strerror(errno));
			return;
		}
		/* 4 KiB pages: a fault per page, as a daemon's heap would take. */
		madvise((void *)p, len, MADV_NOHUGEPAGE);
		for (off = 0; off < len; off += TOUCH_STRIDE) {
			p[off] = 1;
			pages++;
		}
		done += len;
		rss = self_rss();
		if (rss > peak)
			peak = rss;
		send_mem(fd, peak, pages);
		sleep_until(now_ms() + o->step_ms);
	}
}

/* The updater's download: everything the mirror sends, to EOF; reports the bytes. */
static void download(int fd)
{
	struct sockaddr_in a = { .sin_family = AF_INET };
	long port;
	long long got = 0;
	char msg[64];
	int s;

	if (parse_long(getenv(MIRROR_ENV), 1, 65535, &port))
		return;
	a.sin_port = htons((uint16_t)port);
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (s < 0 || connect(s, (struct sockaddr *)&a, sizeof(a))) {
		fprintf(stderr, PROG ": cannot reach the mirror: %s\n", strerror(errno));
		if (s >= 0)
			close(s);
		return;
	}
	for (;;) {
		static char buf[64 * 1024];
		ssize_t n = read(s, buf, sizeof(buf));

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		got += n;
	}
	close(s);
	snprintf(msg, sizeof(msg), "net %ld %lld\n", (long)getpid(), got);
	send_line(fd, msg);
}

static int run_tree(const struct opts *o)
{
	const char *env = getenv(FD_ENV);
	pid_t kids[2], self = getpid(), pp;
	int nkids = 0, first, last, i, status;
	long fd_l, ctl_l, parent_l;
	long long deadline;
	char comm[32] = "", msg[128];
	struct sigaction sa;
	struct stat st;
	int fd, cfd;

	if (parse_long(env, 0, INT_MAX, &fd_l) || fstat((int)fd_l, &st) || !S_ISFIFO(st.st_mode) ||
	    parse_long(getenv(CTL_ENV), 1, INT_MAX, &ctl_l) ||
	    parse_long(getenv(PARENT_ENV), 1, INT_MAX, &parent_l)) {
		fprintf(stderr, PROG ": --level is internal: run " PROG " without it\n");
		return 2;
	}
	fd = (int)fd_l;

	/* Die with the controller, not with a parent the OOM killer took. */
	ctl_pid = (sig_atomic_t)ctl_l;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_parent_death;
	sa.sa_flags = SA_RESTART; /* pipe writes and waits go on; sleeps re-check the clock */
	sigaction(SIGUSR2, &sa, NULL);
	prctl(PR_SET_PDEATHSIG, SIGUSR2);
	pp = getppid(); /* the parent may have died before the prctl */
	if (pp != (pid_t)parent_l && pp != (pid_t)ctl_l)
		kill(self, SIGKILL);
	deadline = now_ms() + o->hold_ms;

	cfd = open("/proc/self/comm", O_RDONLY | O_CLOEXEC);
	if (cfd >= 0) {
		ssize_t n = read(cfd, comm, sizeof(comm) - 1);

		close(cfd);
		comm[n > 0 ? n : 0] = '\0';
		comm[strcspn(comm, "\n")] = '\0';
	}
	snprintf(msg, sizeof(msg), "P %ld %ld %ld %llu %s\n", (long)self, (long)getppid(), o->level,
		 proc_starttime(self), comm);
	send_line(fd, msg);

	/* Level L starts names[L] (0-based); level 3 starts the two daemons. */
	first = (int)o->level;
	last = o->level == 3 ? 4 : (o->level == 4 ? -1 : first);
	for (i = first; last >= 0 && i <= last; i++) {
		pid_t pid = fork();

		if (pid < 0) {
			fprintf(stderr, PROG ": fork: %s\n", strerror(errno));
			break;
		}
		if (pid == 0)
			exec_level(o, o->level + 1, o->names[i], fd, self);
		kids[nkids++] = pid;
	}

	if (o->download_mb && o->level == 3)
		download(fd);
	if (o->alloc_mb) {
		/* Level 4 allocates --alloc-mb, level 3 a quarter; 1 and 2 report their RSS. */
		unsigned long long total = (unsigned long long)o->alloc_mb * MIB;

		if (o->level >= 3) {
			alloc_steps(o, o->level == 4 ? total : total / 4, fd);
			deadline = now_ms() + o->hold_ms; /* hold after the last step */
		} else {
			send_mem(fd, self_rss(), 0);
		}
	}
	sleep_until(deadline);
	for (i = 0; i < nkids; i++) {
		pid_t w;

		while ((w = waitpid(kids[i], &status, 0)) < 0 && errno == EINTR)
			;
		if (w != kids[i])
			continue;
		snprintf(msg, sizeof(msg), "exit %ld %d\n", (long)w, status);
		send_line(fd, msg);
	}
	return o->level == 4 ? (int)o->exit_code : 0;
}

/* The distractor: arithmetic on one CPU for MS ms, outside the job. */
static int run_spin(long ms)
{
	unsigned long long x = 88172645463325252ULL;
	volatile unsigned long long sink;
	long long end = now_ms() + ms;
	long ctl_l;

	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (parse_long(getenv(CTL_ENV), 1, INT_MAX, &ctl_l) || getppid() != (pid_t)ctl_l)
		return 1; /* not started by a live controller */
	while (now_ms() < end) {
		int i;

		for (i = 0; i < 1000000; i++) {
			x ^= x << 13;
			x ^= x >> 7;
			x ^= x << 17;
		}
		sink = x;
	}
	(void)sink;
	return 0;
}

/* ---- controller ---------------------------------------------------------- */

static void unescape_mountinfo(char *dst, size_t len, const char *src)
{
	size_t n = 0;

	while (*src && n + 1 < len) {
		if (src[0] == '\\' && src[1] >= '0' && src[1] <= '7' && src[2] >= '0' &&
		    src[2] <= '7' && src[3] >= '0' && src[3] <= '7') {
			dst[n++] =
				(char)((src[1] - '0') * 64 + (src[2] - '0') * 8 + (src[3] - '0'));
			src += 4;
		} else {
			dst[n++] = *src++;
		}
	}
	dst[n] = '\0';
}

static bool has_option(const char *opts, const char *want)
{
	size_t wl = strlen(want);
	const char *p = opts;

	while (p && *p) {
		const char *comma = strchr(p, ',');
		size_t n = comma ? (size_t)(comma - p) : strlen(p);

		if (n == wl && !strncmp(p, want, wl))
			return true;
		p = comma ? comma + 1 : NULL;
	}
	return false;
}

/* First cgroup2 mount and first v1 mount carrying the memory controller. */
static void find_mounts(struct ctl *c)
{
	FILE *f = fopen("/proc/self/mountinfo", "re");
	char *line = NULL;
	size_t cap = 0;

	if (!f)
		return;
	while (getline(&line, &cap, f) > 0) {
		char *field[64], *save = NULL, *tok;
		int n = 0, sep = -1, i;

		for (tok = strtok_r(line, " \n", &save); tok && n < 64;
		     tok = strtok_r(NULL, " \n", &save))
			field[n++] = tok;
		for (i = 6; i < n; i++) {
			if (!strcmp(field[i], "-")) {
				sep = i;
				break;
			}
		}
		if (sep < 0 || sep + 3 >= n)
			continue;
		if (!strcmp(field[sep + 1], "cgroup2") && !c->mount[H_V2][0])
			unescape_mountinfo(c->mount[H_V2], PATH_MAX, field[4]);
		else if (!strcmp(field[sep + 1], "cgroup") && !c->mount[H_MEM][0] &&
			 has_option(field[sep + 3], "memory"))
			unescape_mountinfo(c->mount[H_MEM], PATH_MAX, field[4]);
	}
	free(line);
	fclose(f);
}

static int write_file(const char *path, const char *data)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC);
	ssize_t n;
	int err;

	if (fd < 0)
		return -errno;
	n = write(fd, data, strlen(data));
	err = n == (ssize_t)strlen(data) ? 0 : (n < 0 ? -errno : -EIO);
	close(fd);
	return err;
}

static void write_pid_file(const char *path, pid_t pid)
{
	char tmp[PATH_MAX], buf[32];
	FILE *f;

	snprintf(tmp, sizeof(tmp), "%s.tmp%ld", path, (long)getpid());
	f = fopen(tmp, "we");
	if (!f) {
		fprintf(stderr, PROG ": --pid-file %s: %s\n", path, strerror(errno));
		return;
	}
	snprintf(buf, sizeof(buf), "%ld\n", (long)pid);
	fputs(buf, f);
	/* rename() makes the file appear complete: readers never see a half pid. */
	if (fclose(f) || rename(tmp, path)) {
		fprintf(stderr, PROG ": --pid-file %s: %s\n", path, strerror(errno));
		unlink(tmp);
	}
}

static void record_wait(struct ctl *c, long pid, int status)
{
	int i;

	for (i = 0; i < c->nwaits; i++) {
		if (c->waits[i].pid == pid) {
			c->waits[i].status = status;
			return;
		}
	}
	if (c->nwaits < NSTATUS)
		c->waits[c->nwaits++] = (struct wait_rec){ .pid = pid, .status = status };
}

static const struct wait_rec *find_wait(const struct ctl *c, long pid)
{
	int i;

	for (i = 0; i < c->nwaits; i++)
		if (c->waits[i].pid == pid)
			return &c->waits[i];
	return NULL;
}

/* Reaps level 1, the distractor and orphans of the tree, keeping their status. */
static void reap(struct ctl *c)
{
	pid_t w;
	int status;

	while ((w = waitpid(-1, &status, WNOHANG)) > 0) {
		if (w == c->distractor) {
			c->distractor_reaped = true;
			continue;
		}
		if (w == c->mirror) {
			c->mirror_reaped = true;
			continue;
		}
		if (w == c->level1) {
			c->level1_reaped = true;
			c->level1_status = status;
		}
		record_wait(c, w, status);
	}
}

static void kill_tree(struct ctl *c)
{
	long long deadline = now_ms() + KILL_WAIT_MS;
	int i, h;

	for (;;) {
		int left = 0;

		if (c->level1 > 0 && !c->level1_reaped)
			kill(c->level1, SIGKILL);
		if (c->distractor > 0 && !c->distractor_reaped)
			kill(c->distractor, SIGKILL);
		if (c->mirror > 0 && !c->mirror_reaped)
			kill(c->mirror, SIGKILL);
		for (i = 0; i < c->nprocs; i++) {
			/* Only if it is still the same process, never a reused pid. */
			if (c->procs[i].start &&
			    proc_starttime(c->procs[i].pid) == c->procs[i].start)
				kill((pid_t)c->procs[i].pid, SIGKILL);
		}
		for (h = 0; h < NHIER; h++)
			if (c->cg_dir[h][0])
				left += kill_cgroup(c->cg_dir[h]);
		reap(c);
		/* A subreaper with no children left: the whole tree is gone. */
		if (!left && no_children())
			return;
		if (now_ms() > deadline) {
			fprintf(stderr,
				PROG ": warning: tree processes still alive after SIGKILL\n");
			return;
		}
		sleep_ms(20);
	}
}

static void cleanup(struct ctl *c, const struct opts *o)
{
	int h, i;

	for (h = 0; h < NHIER; h++) {
		if (!c->cg_dir[h][0])
			continue;
		remove_cgroup(c->cg_dir[h], RMDIR_WAIT_MS);
		c->cg_dir[h][0] = '\0';
	}
	if (c->tmpdir[0]) {
		for (i = 0; i <= NNAMES; i++) {
			char path[PATH_MAX + NAME_MAX_LEN + 2];

			snprintf(path, sizeof(path), "%s/%s", c->tmpdir,
				 i < NNAMES ? o->names[i] : o->distractor_name);
			unlink(path);
		}
		rmdir(c->tmpdir);
		c->tmpdir[0] = '\0';
	}
}

static void fail(struct ctl *c, const struct opts *o, const char *fmt, const char *arg, int err)
{
	kill_tree(c);
	cleanup(c, o);
	fprintf(stderr, PROG ": ");
	fprintf(stderr, fmt, arg);
	if (err)
		fprintf(stderr, ": %s", strerror(err));
	fprintf(stderr, "\n");
	exit(1);
}

static int cmp_proc(const void *a, const void *b)
{
	const struct proc_rec *x = a, *y = b;

	if (x->level != y->level)
		return x->level < y->level ? -1 : 1;
	return (x->pid > y->pid) - (x->pid < y->pid);
}

struct mem_stats {
	long long max_usage; /* -1: unavailable */
	long long oom_kills;
};

/* First number in a file, -1 if unreadable. */
static long long read_number(const char *path)
{
	long long v = -1;
	FILE *f = fopen(path, "re");

	if (!f)
		return -1;
	if (fscanf(f, "%lld", &v) != 1)
		v = -1;
	fclose(f);
	return v;
}

/* The value on the "KEY VALUE" line of a flat-keyed file, -1 if absent. */
static long long read_keyed(const char *path, const char *key)
{
	char k[64];
	long long v, found = -1;
	FILE *f = fopen(path, "re");

	if (!f)
		return -1;
	while (fscanf(f, "%63s %lld", k, &v) == 2) {
		if (!strcmp(k, key)) {
			found = v;
			break;
		}
	}
	fclose(f);
	return found;
}

/* Must run before cleanup(): it reads the files of our memory cgroup. */
static void read_mem_stats(const struct ctl *c, struct mem_stats *m)
{
	char path[PATH_MAX + 32];
	const char *dir;
	bool v1 = c->mem_h == H_MEM;

	m->max_usage = -1;
	m->oom_kills = -1;
	if (c->mem_h < 0 || !c->cg_dir[c->mem_h][0])
		return;
	dir = c->cg_dir[c->mem_h];
	snprintf(path, sizeof(path), "%s/%s", dir,
		 v1 ? "memory.max_usage_in_bytes" : "memory.peak");
	m->max_usage = read_number(path);
	snprintf(path, sizeof(path), "%s/%s", dir, v1 ? "memory.oom_control" : "memory.events");
	m->oom_kills = read_keyed(path, "oom_kill");
}

static void print_ll_or_null(long long v)
{
	if (v >= 0)
		printf("%lld", v);
	else
		printf("null");
}

static void print_json(struct ctl *c, const struct opts *o, const char *name, bool used[NHIER],
		       const struct mem_stats *m)
{
	long long job_peak = 0;
	int i, nvict = 0;

	qsort(c->procs, (size_t)c->nprocs, sizeof(c->procs[0]), cmp_proc);
	printf("{\"cgroup_name\": ");
	json_str(name);
	for (i = 0; i < NHIER; i++) {
		printf(", \"%s\": ", i == H_V2 ? "cgroup_v2" : "memcg");
		if (used[i])
			printf("\"/%s\"", name); /* validated: nothing to escape */
		else
			printf("null");
	}
	printf(", \"controller_pid\": %ld, \"processes\": [", (long)getpid());
	for (i = 0; i < c->nprocs; i++) {
		const struct proc_rec *p = &c->procs[i];

		printf("%s{\"pid\": %ld, \"ppid\": %ld, \"comm\": ", i ? ", " : "", p->pid,
		       p->ppid);
		json_str(p->comm);
		printf(", \"level\": %ld", p->level);
		if (o->alloc_mb) {
			const struct wait_rec *w = find_wait(c, p->pid);

			printf(", \"peak_rss_bytes\": ");
			print_ll_or_null(p->peak_rss);
			printf(", \"pages_touched\": ");
			print_ll_or_null(p->peak_rss >= 0 ? p->pages : -1);
			if (w && WIFSIGNALED(w->status))
				printf(", \"killed_by\": %d", WTERMSIG(w->status));
			else
				printf(", \"killed_by\": null");
			if (w)
				printf(", \"exit_status\": %d", w->status);
			else
				printf(", \"exit_status\": null");
			if (p->peak_rss > 0)
				job_peak += p->peak_rss;
		}
		printf("}");
	}
	printf("], \"hold_ms\": %ld, \"exit_code\": %ld", o->hold_ms, o->exit_code);
	if (o->alloc_mb) {
		printf(", \"mem_limit_bytes\": ");
		print_ll_or_null(o->mem_limit_mb ? (long long)(o->mem_limit_mb * MIB) : -1);
		printf(", \"oom_victims\": [");
		for (i = 0; i < c->nprocs; i++) {
			const struct wait_rec *w = find_wait(c, c->procs[i].pid);

			if (w && WIFSIGNALED(w->status) && WTERMSIG(w->status) == SIGKILL)
				printf("%s%ld", nvict++ ? ", " : "", c->procs[i].pid);
		}
		printf("], \"job_peak_rss_bytes\": %lld, \"cgroup_max_usage_bytes\": ", job_peak);
		print_ll_or_null(m->max_usage);
		printf(", \"cgroup_oom_kills\": ");
		print_ll_or_null(m->oom_kills);
	}
	if (o->distractor_ms)
		printf(", \"distractor_pid\": %ld", (long)c->distractor);
	if (o->download_mb) {
		printf(", \"mirror_pid\": %ld, \"download_pid\": ", (long)c->mirror);
		print_ll_or_null(c->download_bytes >= 0 ? c->download_pid : -1);
		printf(", \"download_bytes\": ");
		print_ll_or_null(c->download_bytes);
	}
	printf("}\n");
	fflush(stdout);
}

/* Handles one line from the tree; returns an error message or NULL. */
static const char *handle_line(struct ctl *c, char *line, char *err, size_t errlen)
{
	struct proc_rec p = { 0 };
	char comm[64];
	long level, pid;
	long long peak, pages;
	int e, i, status;

	if (line[0] == 'P' && c->nprocs < NNAMES &&
	    sscanf(line, "P %ld %ld %ld %llu %15s", &p.pid, &p.ppid, &p.level, &p.start, p.comm) ==
		    5) {
		p.peak_rss = -1;
		c->procs[c->nprocs++] = p;
		return NULL;
	}
	if (!strncmp(line, "mem ", 4) &&
	    sscanf(line, "mem %ld %lld %lld", &pid, &peak, &pages) == 3) {
		/* A process sends its "P" line before any "mem" line. */
		for (i = 0; i < c->nprocs; i++) {
			if (c->procs[i].pid == pid) {
				c->procs[i].peak_rss = peak;
				c->procs[i].pages = pages;
			}
		}
		return NULL;
	}
	if (!strncmp(line, "net ", 4) &&
	    sscanf(line, "net %ld %lld", &c->download_pid, &c->download_bytes) == 2)
		return NULL;
	if (!strncmp(line, "exit ", 5) && sscanf(line, "exit %ld %d", &pid, &status) == 2) {
		record_wait(c, pid, status);
		return NULL;
	}
	if (line[0] == 'E' && sscanf(line, "E %ld %63s %d", &level, comm, &e) == 3) {
		snprintf(err, errlen, "level %ld (%s) could not exec: %s", level, comm,
			 strerror(e));
		return err;
	}
	snprintf(err, errlen, "unexpected report from the tree: %.60s", line);
	return err;
}

/* Where the memory controller is for our cgroup: v1 memory, else cgroup2 if enabled there. */
static int memory_hierarchy(const struct ctl *c)
{
	char path[PATH_MAX + 16];

	if (c->cg_dir[H_MEM][0])
		return H_MEM;
	if (c->cg_dir[H_V2][0]) {
		snprintf(path, sizeof(path), "%s/memory.max", c->cg_dir[H_V2]);
		if (access(path, F_OK) == 0)
			return H_V2;
	}
	return -1;
}

static void set_mem_limit(struct ctl *c, const struct opts *o)
{
	char path[PATH_MAX + 32], val[32];
	int e;

	if (c->mem_h < 0)
		fail(c, o, "%s",
		     "--mem-limit: no memory controller for the job's cgroup (neither the v1 memory "
		     "hierarchy nor memory.max on cgroup2)",
		     0);
	snprintf(path, sizeof(path), "%s/%s", c->cg_dir[c->mem_h],
		 c->mem_h == H_MEM ? "memory.limit_in_bytes" : "memory.max");
	snprintf(val, sizeof(val), "%llu", (unsigned long long)o->mem_limit_mb * MIB);
	e = write_file(path, val);
	if (e)
		fail(c, o, "--mem-limit: write %s", path, -e);
}

/*
 * The mirror: outside our cgroups, sends MB MiB to each connection until
 * killed. It calls listen() itself, as a server does: a tracer that learns a
 * connection's owner from its listener (the net concern's fallback) names it.
 */
static void start_mirror(struct ctl *c, const struct opts *o)
{
	struct sockaddr_in a = { .sin_family = AF_INET };
	socklen_t alen = sizeof(a);
	char port[16], ok = 0;
	pid_t pid;
	int l = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), ready[2];

	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (l < 0 || bind(l, (struct sockaddr *)&a, sizeof(a)) ||
	    getsockname(l, (struct sockaddr *)&a, &alen) || pipe2(ready, O_CLOEXEC))
		fail(c, o, "mirror socket: %s", strerror(errno), 0);
	snprintf(port, sizeof(port), "%u", ntohs(a.sin_port));
	setenv(MIRROR_ENV, port, 1); /* inherited by the tree */
	fflush(NULL);
	pid = fork();
	if (pid < 0)
		fail(c, o, "fork: %s", strerror(errno), 0);
	if (pid == 0) {
		static char buf[64 * 1024];

		signal(SIGINT, SIG_DFL);
		signal(SIGTERM, SIG_DFL);
		signal(SIGPIPE, SIG_IGN);
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		prctl(PR_SET_NAME, "mirror");
		memset(buf, 'p', sizeof(buf));
		ok = listen(l, 4) ? 0 : 1;
		if (write(ready[1], &ok, 1) != 1 || !ok)
			_exit(1);
		close(ready[1]);
		for (;;) {
			unsigned long long left = (unsigned long long)o->download_mb * MIB;
			int s = accept4(l, NULL, NULL, SOCK_CLOEXEC);

			if (s < 0)
				continue;
			while (left) {
				size_t k = left < sizeof(buf) ? (size_t)left : sizeof(buf);
				ssize_t n = write(s, buf, k);

				if (n < 0 && errno == EINTR)
					continue;
				if (n <= 0)
					break;
				left -= (unsigned long long)n;
			}
			close(s);
		}
	}
	close(l);
	close(ready[1]);
	c->mirror = pid;
	/* The updater connects only once the mirror listens. */
	while (read(ready[0], &ok, 1) < 0 && errno == EINTR)
		;
	close(ready[0]);
	if (!ok)
		fail(c, o, "mirror: %s", "listen failed", 0);
}

/* The distractor: outside our cgroups, exec'd through a symlink for its comm. */
static void start_distractor(struct ctl *c, const struct opts *o)
{
	char path[PATH_MAX + NAME_MAX_LEN + 2], ms[24], ctl[24];
	pid_t pid;

	snprintf(path, sizeof(path), "%s/%s", c->tmpdir, o->distractor_name);
	snprintf(ms, sizeof(ms), "%ld", o->distractor_ms);
	snprintf(ctl, sizeof(ctl), "%ld", (long)getpid());
	fflush(NULL);
	pid = fork();
	if (pid < 0)
		fail(c, o, "fork: %s", strerror(errno), 0);
	if (pid == 0) {
		char *argv[] = { (char *)o->distractor_name, "--spin-ms", ms, NULL };
		int nul = open("/dev/null", O_RDWR | O_CLOEXEC);

		signal(SIGINT, SIG_DFL);
		signal(SIGTERM, SIG_DFL);
		/* It must not hold our stdout open (callers read it to EOF). */
		if (nul >= 0) {
			dup2(nul, 0);
			dup2(nul, 1);
		}
		setenv(CTL_ENV, ctl, 1);
		execv(path, argv);
		_exit(127);
	}
	c->distractor = pid;
}

/* Interrupted by SIGINT/SIGTERM: kill everything, clean up, say so. */
static int interrupted(struct ctl *c, const struct opts *o)
{
	int sig = got_signal;

	kill_tree(c);
	cleanup(c, o);
	fprintf(stderr, PROG ": %s: tree killed, cgroups removed\n",
		sig == SIGINT ? "interrupted" : "terminated");
	return 128 + sig;
}

static int run_controller(const struct opts *o)
{
	struct ctl c;
	struct mem_stats ms = { -1, -1 };
	char name[256], exe[PATH_MAX], buf[4096], err[512];
	struct sigaction sa;
	bool used[NHIER] = { false, false };
	size_t have = 0;
	long long deadline;
	ssize_t n;
	int pfd[2], h, i, status;
	pid_t pid, self = getpid();

	memset(&c, 0, sizeof(c));
	c.mem_h = -1;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal; /* no SA_RESTART: poll() and waits return EINTR */
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sa.sa_handler = on_alarm;
	sigaction(SIGALRM, &sa, NULL);
	alarm(HARD_LIMIT_S);
	deadline = now_ms() + o->hold_ms * 4 + 5000;
	if (o->alloc_mb) /* the steps, slowed down by reclaim, then the hold */
		deadline +=
			n_steps(o, (unsigned long long)o->alloc_mb * MIB) * o->step_ms * 2 + 10000;

	if (o->cgroup)
		snprintf(name, sizeof(name), "%s", o->cgroup);
	else
		snprintf(name, sizeof(name), PROG "-%ld", (long)self);

	/* Orphans of a killed tree come back to us, so we can reap them. */
	prctl(PR_SET_CHILD_SUBREAPER, 1);

	find_mounts(&c);
	for (h = 0; h < NHIER; h++) {
		if (!c.mount[h][0]) {
			c.cg_err[h] = ENOENT;
			continue;
		}
		snprintf(c.cg_dir[h], PATH_MAX, "%.3800s/%s", c.mount[h], name);
		if (mkdir(c.cg_dir[h], 0755)) {
			int e = errno;

			c.cg_dir[h][0] = '\0';
			if (e == EEXIST)
				fail(&c, o, "cgroup %s already exists; pick another --cgroup name",
				     name, 0);
			c.cg_err[h] = e;
		}
	}
	if (!c.cg_dir[H_V2][0] && !c.cg_dir[H_MEM][0]) {
		size_t len = 0;

		for (h = 0; h < NHIER; h++)
			len += (size_t)snprintf(err + len, sizeof(err) - len, "%s%s: %s",
						h ? "; " : "", hier_name[h],
						c.mount[h][0] ? strerror(c.cg_err[h]) :
								"not mounted");
		if (c.cg_err[H_V2] == EACCES || c.cg_err[H_V2] == EPERM ||
		    c.cg_err[H_MEM] == EACCES || c.cg_err[H_MEM] == EPERM)
			fail(&c, o, "cannot create the cgroup (%s); run as root", err, 0);
		fail(&c, o,
		     "cannot create the cgroup (%s); mount cgroup2 or the v1 memory controller",
		     err, 0);
	}
	c.mem_h = memory_hierarchy(&c);
	if (o->mem_limit_mb)
		set_mem_limit(&c, o);

	n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	if (n <= 0)
		fail(&c, o, "readlink %s", "/proc/self/exe", errno);
	exe[n] = '\0';
	snprintf(c.tmpdir, sizeof(c.tmpdir), "/tmp/" PROG ".XXXXXX");
	if (!mkdtemp(c.tmpdir)) {
		int e = errno;

		c.tmpdir[0] = '\0';
		fail(&c, o, "mkdtemp in %s", "/tmp", e);
	}
	chmod(c.tmpdir, 0755);
	for (i = 0; i <= NNAMES; i++) {
		const char *nm = i < NNAMES ? o->names[i] : o->distractor_name;
		char link[PATH_MAX + NAME_MAX_LEN + 2];

		if (i == NNAMES && !o->distractor_ms)
			break;
		snprintf(link, sizeof(link), "%s/%s", c.tmpdir, nm);
		if (symlink(exe, link) && errno != EEXIST) /* names may repeat */
			fail(&c, o, "symlink %s", link, errno);
	}
	if (o->distractor_ms)
		start_distractor(&c, o);
	c.download_bytes = -1;
	if (o->download_mb)
		start_mirror(&c, o);

	if (pipe2(pfd, O_CLOEXEC))
		fail(&c, o, "pipe: %s", strerror(errno), 0);
	fflush(NULL);
	pid = fork();
	if (pid < 0)
		fail(&c, o, "fork: %s", strerror(errno), 0);
	if (pid == 0) {
		struct opts lo = *o;
		char fdstr[16], pidstr[32], ctlstr[24];
		int nul = open("/dev/null", O_RDWR | O_CLOEXEC);
		bool moved = false;

		signal(SIGINT, SIG_DFL);
		signal(SIGTERM, SIG_DFL);
		close(pfd[0]);
		/* The tree must not hold our stdout open (callers read it to EOF). */
		if (nul >= 0) {
			dup2(nul, 0);
			dup2(nul, 1);
		}
		snprintf(pidstr, sizeof(pidstr), "%ld\n", (long)getpid());
		for (h = 0; h < NHIER; h++) {
			char procs[PATH_MAX + 16], msg[64];
			int e;

			if (!c.cg_dir[h][0])
				continue;
			snprintf(procs, sizeof(procs), "%s/cgroup.procs", c.cg_dir[h]);
			e = write_file(procs, pidstr);
			if (e) {
				snprintf(msg, sizeof(msg), "M %d %d\n", h, -e);
				send_line(pfd[1], msg);
			} else {
				moved = true;
			}
		}
		if (!moved)
			_exit(1);
		fcntl(pfd[1], F_SETFD, 0); /* inherited by the whole tree */
		snprintf(fdstr, sizeof(fdstr), "%d", pfd[1]);
		setenv(FD_ENV, fdstr, 1);
		snprintf(ctlstr, sizeof(ctlstr), "%ld", (long)self);
		setenv(CTL_ENV, ctlstr, 1);
		lo.dir = c.tmpdir;
		exec_level(&lo, 1, o->names[0], pfd[1], self);
	}
	c.level1 = pid;
	close(pfd[1]);
	if (o->pid_file)
		write_pid_file(o->pid_file, pid);

	/* Read reports until every tree process has closed the pipe. */
	for (;;) {
		struct pollfd p = { .fd = pfd[0], .events = POLLIN };
		char *nl;

		if (got_signal)
			return interrupted(&c, o);
		if (got_alarm || now_ms() > deadline)
			fail(&c, o, "the tree did not finish in time (%s); killed it",
			     got_alarm ? "60 s hard limit" : "its own deadline", 0);
		reap(&c); /* orphans of a parent that was killed, keeping their status */
		if (poll(&p, 1, 200) <= 0)
			continue;
		n = read(pfd[0], buf + have, sizeof(buf) - 1 - have);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		have += (size_t)n;
		buf[have] = '\0';
		while ((nl = strchr(buf, '\n'))) {
			*nl = '\0';
			if (buf[0] == 'M') {
				int hh, e;

				if (sscanf(buf, "M %d %d", &hh, &e) == 2 && hh >= 0 && hh < NHIER &&
				    c.cg_dir[hh][0]) {
					c.cg_err[hh] = e;
					rmdir(c.cg_dir[hh]); /* unused: nothing was moved in */
					c.cg_dir[hh][0] = '\0';
					if (hh == c.mem_h) {
						c.mem_h = -1;
						if (o->mem_limit_mb)
							fail(&c, o,
							     "could not move the tree into its memory "
							     "cgroup: %s",
							     strerror(e), 0);
					}
				}
			} else if (handle_line(&c, buf, err, sizeof(err))) {
				fail(&c, o, "%s", err, 0);
			}
			have -= (size_t)(nl + 1 - buf);
			memmove(buf, nl + 1, have + 1);
		}
		if (have >= sizeof(buf) - 1)
			fail(&c, o, "%s", "garbage on the report pipe", 0);
	}
	close(pfd[0]);

	while (!c.level1_reaped) {
		reap(&c);
		if (c.level1_reaped)
			break;
		if (got_signal || got_alarm || now_ms() > deadline)
			break; /* handled right below */
		sleep_ms(20);
	}
	if (got_signal)
		return interrupted(&c, o);
	if (!c.level1_reaped)
		fail(&c, o, "%s", "the tree did not finish in time; killed it", 0);
	status = c.level1_status;
	if (!c.cg_dir[H_V2][0] && !c.cg_dir[H_MEM][0])
		fail(&c, o, "could not move the tree into cgroup %s; run as root", name, 0);
	if (c.nprocs != NNAMES || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		snprintf(err, sizeof(err),
			 "the tree failed: %d of %d processes reported, level 1 %s %d", c.nprocs,
			 NNAMES, WIFEXITED(status) ? "exited" : "killed by signal",
			 WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status));
		fail(&c, o, "%s", err, 0);
	}
	kill_tree(&c); /* reaps stragglers and the distractor */
	for (h = 0; h < NHIER; h++)
		used[h] = c.cg_dir[h][0] != '\0';
	if (o->alloc_mb)
		read_mem_stats(&c, &ms);
	cleanup(&c, o);
	print_json(&c, o, name, used, &ms);
	return 0;
}

int main(int argc, char **argv)
{
	struct opts o;

	parse_args(argc, argv, &o);
	if (o.spin_ms >= 0)
		return run_spin(o.spin_ms);
	if (o.level)
		return run_tree(&o);
	return run_controller(&o);
}
