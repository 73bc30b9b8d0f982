/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/* Report writers: a finalized model in, one format out. */
#ifndef ST_REPORT_H
#define ST_REPORT_H

#include <stdio.h>

#include "model.h"

struct json_w;
struct oom_kill;

void report_json(struct model *m, FILE *out);
/* The keys of one OOM kill (report oom_kills[] and the streamed oom_kill line). */
void report_json_oom(struct json_w *w, const struct model *m, const struct oom_kill *k);
/* The keys that name a cause: name, cgroup, root_pid, root_comm. */
void report_json_cause_id(struct json_w *w, const struct job *j);
/* Key "lineage": the comms of the job's deepest process and its ancestors, root first. */
void report_json_lineage(struct json_w *w, struct model *m, const struct job *j);
/* Key "concerns": the names of the concerns recorded, in concerns[] order. */
void report_json_concerns(struct json_w *w, const struct model *m);
void report_text(struct model *m, FILE *out, const char *source);
/* The "tls" object and the TLS HANDSHAKES section (user/report_tls.c). */
void report_json_tls(struct json_w *w, struct model *m);
void report_text_tls(struct model *m, FILE *out);
/* The keys that say which process a TLS row is: pid, comm, cause, lib. */
struct tls_proc;
void report_json_tls_id(struct json_w *w, struct model *m, const struct tls_proc *t);
/* The "tcp" object and the TCP section (user/report_tcp.c, docs/tcp.md). */
struct tcp_reset;
struct tcp_conn;
void report_json_tcp(struct json_w *w, struct model *m);
void report_text_tcp(struct model *m, FILE *out);
/* The keys of one reset (tcp.resets[] and the streamed tcp_reset line). */
void report_json_tcp_reset(struct json_w *w, struct model *m, const struct tcp_reset *r);
/* The keys of one closed connection (tcp.connections[] and the tcp_close line). */
void report_json_tcp_conn(struct json_w *w, struct model *m, const struct tcp_conn *c);
/* Key k: ns as milliseconds, or null when not known. */
void report_json_kms(struct json_w *w, const char *k, bool known, uint64_t ns);

/* The "net" object, and the top talkers of the "tcp" object and TCP section (report_net.c). */
void report_json_net(struct json_w *w, struct model *m);
void report_json_net_talkers(struct json_w *w, struct model *m);
void report_text_net_talkers(struct model *m, FILE *out);

/* The "cpu" object and the CPU section (user/report_cpu.c, docs/cpu.md). */
void report_json_cpu(struct json_w *w, struct model *m);
void report_text_cpu(struct model *m, FILE *out);
/* The CPU profile, cause frames first: collapsed stacks, or gzipped pprof. 0 or 1. */
int report_folded(struct model *m, FILE *out);
int report_pprof(struct model *m, FILE *out);
/* A JSON trace (Trace Event Format) for ui.perfetto.dev (user/report_perfetto.c). 0 or 1. */
int report_perfetto(struct model *m, FILE *out);
/* One self-contained HTML page (user/report_html.c). 0 or 1. */
int report_html(struct model *m, FILE *out);

/* What several formats and top share (user/report_common.c). */
/* The concern named concern ("cpu", "mem", ...) was recorded. */
bool report_has(const struct model *m, const char *concern);

/* The series the formats draw per cause: one value per timeline bucket. */
enum report_series {
	RS_CPU, /* sampled CPU seconds (cpu) */
	RS_RUNNABLE, /* the most threads runnable at once (cpu, with the scheduler's view) */
	RS_RSS, /* RSS at the bucket's end, bytes (mem) */
	RS_FAULTS, /* page faults (mem) */
	RS_TLS, /* completed TLS handshakes (tls) */
	RS_TCP, /* TCP resets, received and sent (tcp) */
	RS_EXECS, /* execs (proc) */
	RS_RSS_HELD, /* the most RSS held at once in the bucket, bytes (mem) */
	RS_NET_RX, /* bytes received (net) */
	RS_NET_TX, /* bytes sent (net) */
	RS_NR,
};

/* Series k has data: its concern was recorded (runnable: with the scheduler's view). */
bool report_series_present(const struct model *m, enum report_series k);
/*
 * Series k of job j into v[nb], buckets of iv seconds, as the model gives
 * them: sums over a bucket (CPU seconds, counts) or levels (RSS, runnable),
 * never per second. scratch[nb] is overwritten.
 */
void report_series(const struct model *m, enum report_series k, const struct job *j, double iv,
		   double *v, double *scratch, size_t nb);
/* Bytes for people in at most 5 characters: 1.5G, 212M, 64K, 0B. Returns buf. */
const char *report_bytes(uint64_t b, char *buf, size_t len);
/* The same for a sum or a rate kept as a double: negative is 0, past 2^64 the most. */
const char *report_bytes_d(double b, char *buf, size_t len);
/* A count or a rate in at most 5 characters: 0, 0.5, 812, 9999, 91k, 12.3M. Returns buf. */
const char *report_count(double x, char *buf, size_t len);

#endif
