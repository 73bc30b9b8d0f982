// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/* spiketrace: which cause made this box spike. Subcommands, perf-style. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "json.h"
#include "live.h"
#include "log.h"
#include "report.h"
#include "spine.h"
#include "stream.h"
#include "version.h"

struct cmd {
	const char *name;
	unsigned int opts;
	int (*run)(struct options *o);
	const char *summary;
	const char *usage;
};

static const char record_usage[] =
	"Usage: spiketrace record [-d SECS] [-o FILE] [--only LIST] [-p PID] [-c CGROUP] [-F HZ]\n"
	"       spiketrace record --flight SECS --trigger EXPR [--trigger EXPR...] -o DIR ...\n"
	"Record every concern (or --only LIST) into FILE (default spiketrace.rec).\n"
	"\n"
	"  -d, --duration SECS  stop after SECS (default: at SIGINT/SIGTERM)\n"
	"  -o, --output FILE    recording to write (replaced if it exists, never a symlink);\n"
	"                       with --flight, the directory recordings are written into\n"
	"      --flight SECS    flight recorder: keep the last SECS in memory; each time a\n"
	"                       trigger fires, write SECS before and after into a new file\n"
	"      --trigger EXPR   oom, cpu>PCT, handshakes>N, resets>N, exec=NAME (repeatable)\n"
	"      --only LIST      comma list of concerns: proc,mem,tls,tcp,cpu,net\n"
	"  -F, --freq HZ        CPU sampling rate (default 99)\n"
	"  -p, --pid PID        only this process and its descendants\n"
	"  -c, --cgroup PATH    only this cgroup and below (cgroup2 or v1 memory path)\n"
	"      --btf FILE       kernel BTF to use instead of /sys/kernel/btf/vmlinux\n"
	"      --ringbuf-kb N   ring buffer size per concern (power of two)\n"
	"  -v, --verbose        more diagnostics (-vv: libbpf debug)\n"
	"\n"
	"Examples:\n"
	"  spiketrace record -d 60 -o spike.rec\n"
	"  spiketrace report spike.rec\n";

static const char report_usage[] =
	"Usage: spiketrace report [FILE] [--format text|json|folded|pprof|perfetto|html] [-o OUT]\n"
	"Explain a recording: ranked causes, their processes, the events in time order.\n"
	"\n"
	"  --format FMT   text (default), json, folded (collapsed stacks for flamegraph.pl,\n"
	"                 inferno, speedscope), pprof (gzipped profile.proto), perfetto (a\n"
	"                 JSON trace for ui.perfetto.dev or chrome://tracing: causes as\n"
	"                 tracks, process lifetimes, TLS handshakes, marks, counters) or\n"
	"                 html (one self-contained page: causes, flame graph, timeline;\n"
	"                 works offline)\n"
	"  -o, --output   write to OUT instead of stdout\n"
	"\n"
	"Examples:\n"
	"  spiketrace report spike.rec\n"
	"  spiketrace report spike.rec --format json | jq '.causes[0]'\n"
	"  spiketrace report spike.rec --format folded | flamegraph.pl > cpu.svg\n"
	"  spiketrace report spike.rec --format pprof -o cpu.pb.gz && go tool pprof -top cpu.pb.gz\n"
	"  spiketrace report spike.rec --format perfetto -o spike.json\n"
	"  spiketrace report spike.rec --format html -o spike.html\n";

static const char proc_usage[] =
	"Usage: spiketrace proc [--json] [-d SECS] [-p PID] [-c CGROUP]\n"
	"Stream process execs and exits with their lineage, like execsnoop.\n"
	"\n"
	"  --json         one JSON object per line, each with \"type\"\n"
	"  -d SECS        stop after SECS\n"
	"  -p PID         only this process and its descendants\n"
	"  -c CGROUP      only this cgroup and below\n"
	"\n"
	"Examples:\n"
	"  spiketrace proc\n"
	"  spiketrace proc --json -d 10 | jq -c 'select(.type==\"exec\") | .lineage'\n";

static const char features_usage[] =
	"Usage: spiketrace features [--json]\n"
	"Print what this kernel supports and which program variant each concern uses.\n";

/*
 * report -o: written to a temporary file beside OUT (mode 0600, like the
 * recording it comes from) and renamed over OUT only when complete, so a
 * failed or interrupted report leaves no partial file. A symlink at OUT is
 * refused unless it leads to a character device or FIFO (/dev/stdout), which
 * is written directly, as is one named without a symlink.
 */
struct out_file {
	unsigned int errors; /* st_errors at open */
	const char *path;
	char tmp[4096];
	FILE *f;
};

static int out_open(struct out_file *of, const char *path)
{
	const char *slash;
	struct stat st;
	int fd;

	of->errors = st_errors;
	of->path = path;
	of->tmp[0] = '\0';
	if (!path) {
		of->f = stdout;
		return 0;
	}
	/* A symlink to a stream (/dev/stdout, a FIFO) is fine; to a file, never. */
	if (!lstat(path, &st) && S_ISLNK(st.st_mode) &&
	    (stat(path, &st) || !(S_ISCHR(st.st_mode) || S_ISFIFO(st.st_mode)))) {
		log_err("refusing to write %s: it is a symlink", path);
		return 1;
	}
	if (!stat(path, &st) && S_ISBLK(st.st_mode)) {
		log_err("refusing to write %s: it is a block device", path);
		return 1;
	}
	if (!stat(path, &st) && !S_ISREG(st.st_mode)) {
		if (S_ISDIR(st.st_mode)) {
			log_err("cannot write %s: it is a directory", path);
			return 1;
		}
		of->f = fopen(path, "we");
		if (!of->f) {
			log_err("cannot write %s: %s", path, strerror(errno));
			return 1;
		}
		return 0;
	}
	slash = strrchr(path, '/');
	if ((size_t)snprintf(of->tmp, sizeof(of->tmp), "%.*s.%s.XXXXXX",
			     slash ? (int)(slash - path + 1) : 0, path,
			     slash ? slash + 1 : path) >= sizeof(of->tmp)) {
		log_err("cannot write %s: %s", path, strerror(ENAMETOOLONG));
		return 1;
	}
	fd = mkostemp(of->tmp, O_CLOEXEC);
	if (fd < 0 || !(of->f = fdopen(fd, "w"))) {
		log_err("cannot write %s: %s", path, strerror(errno));
		if (fd >= 0) {
			close(fd);
			unlink(of->tmp);
		}
		of->tmp[0] = '\0';
		return 1;
	}
	return 0;
}

/* Closes; renames into place only when ok (rc 0) and every write succeeded. */
static int out_close(struct out_file *of, int rc)
{
	const char *name = of->path ? of->path : "stdout";
	int err = 0;

	if (fflush(of->f) || ferror(of->f))
		err = errno ? errno : EIO;
	if (of->f != stdout && fclose(of->f) && !err)
		err = errno;
	/* A writer that failed without a word (a full disk seen by ferror). */
	if (err && (!rc || st_errors == of->errors)) {
		log_err("writing %s failed: %s", name, strerror(err));
		rc = 1;
	} else if (rc && st_errors == of->errors) {
		log_err("writing %s failed", name);
	}
	if (of->tmp[0]) {
		if (!rc && rename(of->tmp, of->path)) {
			log_err("cannot write %s: %s", of->path, strerror(errno));
			rc = 1;
		}
		if (rc)
			unlink(of->tmp);
	}
	return rc;
}

/* Runs the selected concerns live until -d or a signal; sp was preflighted. */
static int trace(struct spine *sp, struct options *o, struct model *m, struct rec_writer *rec,
		 const char *what)
{
	char desc[512];
	int rc;

	rc = spine_start(sp, o, m, rec);
	if (!rc) {
		spine_describe(sp, desc, sizeof(desc));
		fprintf(stderr, "spiketrace: tracing %s%s (Ctrl-C to stop)\n", desc, what);
		rc = spine_run(sp);
	}
	spine_stop(sp);
	if (sp->rec_err && !rc) {
		log_err("writing the recording failed: %s", strerror(-sp->rec_err));
		rc = 1;
	}
	if (st_exiting)
		log_dbg("stopped by signal %d", (int)st_exiting);
	return rc;
}

struct rec_open {
	const char *path;
	struct rec_header h;
	struct model *m;
};

/* Called by the spine once the programs are attached (see rec_open_cb). */
static struct rec_writer *open_recording(void *ctx, unsigned int running)
{
	struct rec_open *ro = ctx;
	struct rec_writer *rec;

	ro->h.concerns = running;
	ro->m->concerns = running;
	rec = rec_create(ro->path, &ro->h);
	if (!rec) {
		if (errno == ELOOP)
			log_err("refusing to write %s: it is a symlink", ro->path);
		else
			log_err("cannot create %s: %s", ro->path, strerror(errno));
	}
	return rec;
}

/*
 * Whether FILE can be created, asked before anything is attached so a bad
 * -o fails in one line; rec_create() checks again (O_NOFOLLOW) when it opens.
 */
static int check_output(const char *path)
{
	char dir[4096];
	const char *slash = strrchr(path, '/');
	struct stat st;

	if (!lstat(path, &st)) {
		if (S_ISLNK(st.st_mode)) {
			log_err("refusing to write %s: it is a symlink", path);
			return 1;
		}
		if (S_ISDIR(st.st_mode)) {
			log_err("cannot create %s: it is a directory", path);
			return 1;
		}
	}
	if (!slash)
		snprintf(dir, sizeof(dir), ".");
	else if ((size_t)snprintf(dir, sizeof(dir), "%.*s", (int)(slash - path), path) >=
		 sizeof(dir))
		dir[0] = '\0';
	if (!dir[0] && slash == path)
		snprintf(dir, sizeof(dir), "/");
	if (access(dir, W_OK | X_OK)) {
		log_err("cannot create %s: %s", path, strerror(errno));
		return 1;
	}
	return 0;
}

static int cmd_record(struct options *o)
{
	struct rec_open ro = { .path = o->output ? o->output : "spiketrace.rec" };
	struct spine sp = { .rec_open_cb = open_recording, .rec_open_ctx = &ro };
	struct model *m;
	char what[300];
	int rc;

	if (o->flight)
		return flight_main(o);
	/*
	 * Checked before the file is touched, and the file is created only once
	 * every program is attached: a failed start keeps an old recording and
	 * leaves no header-only one behind.
	 */
	if (spine_preflight(o, &sp.feat) || check_output(ro.path))
		return 1;
	spine_rec_header(&ro.h, o->concerns ? o->concerns : ~0u);
	m = model_new(ro.h.start_mono_ns);
	if (!m) {
		log_err("out of memory");
		return 1;
	}
	m->concerns = ro.h.concerns;
	ro.m = m;
	snprintf(what, sizeof(what), ", recording to %.200s", ro.path);
	rc = trace(&sp, o, m, NULL, what);
	if (!rc)
		fprintf(stderr,
			"spiketrace: wrote %s (%zu processes seen); see: spiketrace report %s\n",
			ro.path, m->nprocs, ro.path);
	model_free(m);
	return rc;
}

static int cmd_report(struct options *o)
{
	const char *path = o->input ? o->input : "spiketrace.rec";
	const char *fmt = o->format ? o->format : "text";
	struct out_file of;
	struct model *m;
	int rc;

	if (strcmp(fmt, "text") && strcmp(fmt, "json") && strcmp(fmt, "folded") &&
	    strcmp(fmt, "pprof") && strcmp(fmt, "perfetto") && strcmp(fmt, "html")) {
		log_err("report: unknown format '%s' (text, json, folded, pprof, perfetto, html)",
			fmt);
		return 2;
	}
	m = model_new(0);
	if (!m) {
		log_err("out of memory");
		return 1;
	}
	rc = spine_replay(path, m);
	if (!rc)
		rc = out_open(&of, o->output);
	if (!rc) {
		errno = 0;
		if (!strcmp(fmt, "json"))
			report_json(m, of.f);
		else if (!strcmp(fmt, "folded"))
			rc = report_folded(m, of.f);
		else if (!strcmp(fmt, "pprof"))
			rc = report_pprof(m, of.f);
		else if (!strcmp(fmt, "perfetto"))
			rc = report_perfetto(m, of.f);
		else if (!strcmp(fmt, "html"))
			rc = report_html(m, of.f);
		else
			report_text(m, of.f, path);
		rc = out_close(&of, rc);
	}
	model_free(m);
	return rc;
}

/* A streaming command: the named concerns live, their events on stdout. */
enum stream_what {
	SW_PROCS = 1 << 0, /* exec/exit lines */
	SW_MEM_TABLE = 1 << 1, /* the periodic per-job memory table */
	SW_TLS = 1 << 2, /* handshake lines */
	SW_TCP = 1 << 3, /* transition, reset and close lines */
	SW_CPU_TABLE = 1 << 4, /* the periodic per-job CPU table */
	SW_NET_TABLE = 1 << 5, /* the periodic per-job network table */
};

/*
 * Every streaming command: a line when events were lost since the last
 * tick (ring buffer full, ...), so a reader of the stream knows it has gaps,
 * then the command's own periodic table.
 */
struct stream_ticker {
	struct stream *s;
	spine_tick_cb table;
	uint64_t lost_seen;
};

static void stream_tick(void *ctx, uint64_t now)
{
	struct stream_ticker *t = ctx;
	const struct model *m = t->s->m;
	uint64_t lost = model_lost(m);

	if (lost > t->lost_seen) {
		if (t->s->json)
			fprintf(t->s->out,
				"{\"type\": \"lost\", \"time_s\": %.6f, \"lost_events\": %llu, "
				"\"new\": %llu}\n",
				model_time_s(m, now), (unsigned long long)lost,
				(unsigned long long)(lost - t->lost_seen));
		else
			fprintf(t->s->out,
				"%-9.3f LOST %llu events so far (+%llu): the ring buffer was full; "
				"--ringbuf-kb raises it\n",
				model_time_s(m, now), (unsigned long long)lost,
				(unsigned long long)(lost - t->lost_seen));
		fflush(t->s->out);
		t->lost_seen = lost;
	}
	if (t->table)
		t->table(t->s, now);
}

static int stream_cmd(struct options *o, const char *names, unsigned int what)
{
	struct stream s = { .out = stdout,
			    .json = o->json,
			    .procs = what & SW_PROCS,
			    .tls = what & SW_TLS,
			    .tcp = what & SW_TCP };
	struct stream_ticker ticker = { 0 };
	struct spine sp = { 0 };
	struct model *m;
	char bad[32];
	int rc;

	if (spine_preflight(o, &sp.feat))
		return 1;
	m = model_new(now_mono_ns());
	if (!m) {
		log_err("out of memory");
		return 1;
	}
	s.m = m;
	s.interval_s = o->interval > 0 ? o->interval : 2;
	m->concerns = o->concerns = concern_parse_list(names, bad, sizeof(bad));
	/* The command's own concern (the last named): without it, nothing to stream. */
	sp.essential = concern_parse_list(strrchr(names, ',') ? strrchr(names, ',') + 1 : names,
					  bad, sizeof(bad));
	model_listen(m, stream_event, &s);
	ticker.s = &s;
	if (what & SW_MEM_TABLE)
		ticker.table = stream_mem_tick;
	if (what & SW_CPU_TABLE)
		ticker.table = stream_cpu_tick;
	if (what & SW_NET_TABLE)
		ticker.table = stream_net_tick;
	sp.tick_cb = stream_tick;
	sp.tick_ctx = &ticker;
	rc = trace(&sp, o, m, NULL, "");
	stream_free(&s);
	model_free(m);
	return rc;
}

static int cmd_proc(struct options *o)
{
	return stream_cmd(o, "proc", SW_PROCS);
}

static int cmd_features(struct options *o)
{
	struct spine sp = { .o = o, .asked = ~0u }; /* every concern as if asked for */
	struct features *f = &sp.feat;
	struct json_w *w = NULL;
	size_t i;
	int rc = 0;

	if (spine_preflight(o, f))
		return 1;
	if (o->json) {
		w = json_new(stdout, true);
		json_obj_begin(w);
		json_kbool(w, "btf", f->btf);
		json_kbool(w, "ringbuf", f->ringbuf);
		json_kbool(w, "tp_btf", f->tp_btf);
		json_kbool(w, "fentry", f->fentry);
		json_kbool(w, "kprobe", f->kprobe);
		json_kstr(w, "tracefs", f->tracefs ? f->tracefs_path : NULL);
		json_key(w, "concerns");
		json_obj_begin(w);
	} else {
		printf("btf:      %s (%s)\n", f->btf ? "yes" : "no", f->btf_path);
		printf("ringbuf:  %s\n", f->ringbuf ? "yes" : "no");
		printf("tp_btf:   %s\n", f->tp_btf ? "yes" : "no");
		printf("fentry:   %s\n", f->fentry ? "yes" : "no");
		printf("kprobe:   %s\n", f->kprobe ? "yes" : "no");
		printf("tracefs:  %s\n", f->tracefs ? f->tracefs_path : "no");
	}
	for (i = 0; i < nconcerns; i++) {
		const struct concern *c = concerns[i];
		void *priv = NULL;
		const char *v = "unavailable";

		if (!c->open(&sp, &priv) && !c->configure(&sp, priv))
			v = c->variant(priv);
		else
			rc = 1;
		if (w)
			json_kstr(w, c->name, v);
		else
			printf("%-9s %s\n", c->name, v);
		if (priv)
			c->destroy(priv);
	}
	if (w) {
		json_obj_end(w);
		json_obj_end(w);
		json_free(w);
	}
	features_free();
	return rc;
}

static const char mem_usage[] =
	"Usage: spiketrace mem [--json] [-d SECS] [-i SECS] [-p PID] [-c CGROUP]\n"
	"Stream OOM kills as they happen and print a per-job memory table every -i\n"
	"seconds (RSS now, peak, growth, page faults/s, OOM kills).\n"
	"\n"
	"  --json         one JSON object per line: type oom_kill, type mem (one per job)\n"
	"  -i SECS        table period (default 2)\n"
	"  -d SECS        stop after SECS\n"
	"  -p PID, -c CGROUP  only that process tree / cgroup\n"
	"\n"
	"Examples:\n"
	"  spiketrace mem\n"
	"  spiketrace mem --json -d 30 | jq -c 'select(.type==\"oom_kill\")'\n";

static int cmd_mem(struct options *o)
{
	return stream_cmd(o, "proc,mem", SW_MEM_TABLE);
}

static const char tls_usage[] =
	"Usage: spiketrace tls [--json] [-d SECS] [-p PID] [-c CGROUP] [-F HZ]\n"
	"Stream one line per OpenSSL handshake (peer, latency, full/resumed,\n"
	"renegotiation, failure). Finds libssl/libcrypto in the linker cache, in every\n"
	"process's mappings (any path, any version) and statically linked executables.\n"
	"Never reads payload bytes.\n"
	"\n"
	"  --json         one JSON object per line, type tls_handshake\n"
	"  -F HZ          CPU sampling rate for handshake CPU by phase (default 99)\n"
	"  -d SECS        stop after SECS\n"
	"  -p PID, -c CGROUP  only that process tree / cgroup\n"
	"\n"
	"Examples:\n"
	"  spiketrace tls -p $(pgrep -o nginx)\n"
	"  spiketrace tls --json -d 60 | jq -c 'select(.renegotiation)'\n";

static int cmd_tls(struct options *o)
{
	return stream_cmd(o, "proc,tls", SW_TLS);
}

static const char tcp_usage[] =
	"Usage: spiketrace tcp [--json] [-d SECS] [-p PID] [-c CGROUP] [--port N] [--lport N]\n"
	"                      [--rport N]\n"
	"Stream every TCP state transition (with the time spent in the old state), every\n"
	"reset received or sent (with how long the connection had been idle and how old\n"
	"it was) and a summary of each connection when it closes.\n"
	"\n"
	"  --json         one JSON object per line: type tcp_state, tcp_reset, tcp_close\n"
	"  --port N       only connections with N as local or remote port\n"
	"  --lport N, --rport N  only this local / remote port\n"
	"  -d SECS        stop after SECS\n"
	"  -p PID, -c CGROUP  only sockets of that process tree / cgroup\n"
	"\n"
	"Examples:\n"
	"  spiketrace tcp --rport 443\n"
	"  spiketrace tcp --json -d 60 | jq -c 'select(.type==\"tcp_reset\")'\n";

static int cmd_tcp(struct options *o)
{
	return stream_cmd(o, "proc,tcp", SW_TCP);
}

static const char cpu_usage[] =
	"Usage: spiketrace cpu [--json] [-i SECS] [-d SECS] [-p PID] [-c CGROUP] [-F HZ]\n"
	"A per-job table, like top: CPU share of the last interval, CPU seconds so far,\n"
	"the most threads runnable at once and the time threads waited for a CPU.\n"
	"record + report --format folded|pprof give the flame graph.\n"
	"\n"
	"  --json         one JSON object per job and interval, type cpu\n"
	"  -i SECS        table period (default 2)\n"
	"  -F HZ          sampling rate (default 99)\n"
	"  -d SECS        stop after SECS\n"
	"  -p PID, -c CGROUP  only that process tree / cgroup\n"
	"\n"
	"Examples:\n"
	"  spiketrace cpu -i 1\n"
	"  spiketrace cpu --json -d 30 | jq -c 'select(.cpu_pct > 50)'\n";

static int cmd_cpu(struct options *o)
{
	return stream_cmd(o, "proc,cpu", SW_CPU_TABLE);
}

static const char net_usage[] =
	"Usage: spiketrace net [--json] [-i SECS] [-d SECS] [-p PID] [-c CGROUP]\n"
	"A per-job table of network volume, TCP and UDP: bytes received and sent per\n"
	"second over the last interval and since the start, busiest first\n"
	"(docs/net.md). record + report give it per process, over time and per peer.\n"
	"\n"
	"  --json         one JSON object per job and interval, type net\n"
	"  -i SECS        table period (default 2)\n"
	"  -d SECS        stop after SECS\n"
	"  -p PID, -c CGROUP  only that process tree / cgroup\n"
	"\n"
	"Examples:\n"
	"  spiketrace net -i 1\n"
	"  spiketrace net --json -d 60 | jq -c 'select(.rx_bytes_per_s > 1e7)'\n";

static int cmd_net(struct options *o)
{
	return stream_cmd(o, "proc,net", SW_NET_TABLE);
}

static const struct cmd cmds[] = {
	{ "record", OPT_TRACING | OPT_OUTPUT | OPT_ONLY | OPT_FREQ | OPT_PORTS | OPT_FLIGHT,
	  cmd_record, "record every concern into a file", record_usage },
	{ "report", OPT_FORMAT | OPT_OUTPUT | OPT_INPUT, cmd_report,
	  "explain a recording (text, json, folded, pprof, perfetto, html)", report_usage },
	{ "proc", OPT_TRACING | OPT_JSON, cmd_proc, "stream execs and exits with lineage",
	  proc_usage },
	{ "mem", OPT_TRACING | OPT_JSON | OPT_INTERVAL, cmd_mem,
	  "stream OOM kills and a per-job memory table", mem_usage },
	{ "tls", OPT_TRACING | OPT_JSON | OPT_FREQ, cmd_tls,
	  "stream OpenSSL handshakes (peer, latency, kind)", tls_usage },
	{ "tcp", OPT_TRACING | OPT_JSON | OPT_PORTS, cmd_tcp,
	  "stream TCP transitions, resets (idle time) and closes", tcp_usage },
	{ "cpu", OPT_TRACING | OPT_JSON | OPT_INTERVAL | OPT_FREQ, cmd_cpu,
	  "stream a per-job CPU, concurrency and run-delay table", cpu_usage },
	{ "net", OPT_TRACING | OPT_JSON | OPT_INTERVAL, cmd_net,
	  "stream a per-job table of bytes received and sent", net_usage },
	{ "top", OPT_TRACING | OPT_INTERVAL | OPT_ONLY | OPT_FREQ, top_main,
	  "live ranked causes, refreshing in place", top_usage },
	{ "serve", OPT_TRACING | OPT_LISTEN | OPT_ONLY | OPT_FREQ, serve_main,
	  "Prometheus /metrics for fleets", serve_usage },
	{ "features", OPT_JSON | OPT_BTF, cmd_features, "what this kernel supports",
	  features_usage },
};

static void usage(FILE *out)
{
	size_t i;

	fprintf(out, "Usage: spiketrace COMMAND [OPTIONS]\n"
		     "Tells which cause (job, process tree, cgroup) made a Linux box spike.\n\n"
		     "Commands:\n");
	for (i = 0; i < ARRAY_SIZE(cmds); i++)
		fprintf(out, "  %-10s %s\n", cmds[i].name, cmds[i].summary);
	fprintf(out, "\nspiketrace COMMAND --help shows its options; man spiketrace has more.\n");
}

int main(int argc, char **argv)
{
	struct options o = { 0 };
	size_t i;
	int rc;

	log_init();
	if (argc < 2) {
		usage(stderr);
		return 2;
	}
	if (!strcmp(argv[1], "--version") || !strcmp(argv[1], "version")) {
		printf("spiketrace %s\n", ST_VERSION);
		return 0;
	}
	if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
		usage(stdout);
		return 0;
	}
	if (!strcmp(argv[1], "--features"))
		argv[1] = "features";
	for (i = 0; i < ARRAY_SIZE(cmds); i++) {
		if (strcmp(argv[1], cmds[i].name))
			continue;
		rc = opts_parse(argc - 1, argv + 1, cmds[i].opts, cmds[i].usage, &o);
		if (rc)
			return rc < 0 ? 0 : rc;
		return cmds[i].run(&o);
	}
	log_err("unknown command '%s' (see spiketrace --help)", argv[1]);
	return 2;
}
