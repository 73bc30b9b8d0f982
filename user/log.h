/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * One place for diagnostics (ours and libbpf's). Errors are one line on
 * stderr, "spiketrace: what is wrong: what to do", whatever the output mode.
 */
#ifndef ST_LOG_H
#define ST_LOG_H

#include <stdarg.h>

extern int st_verbose; /* -v: 1 shows info from libbpf, 2 its debug */
/* log_err calls so far: a caller says why it failed only when nobody did. */
extern unsigned int st_errors;

void log_init(void); /* routes libbpf's log through us */
void log_err(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_dbg(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
