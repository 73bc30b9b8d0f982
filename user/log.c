// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
#include <stdio.h>
#include <string.h>

#include <bpf/libbpf.h>

#include "log.h"

int st_verbose;
unsigned int st_errors;

static void vlog(const char *level, const char *fmt, va_list ap)
{
	char buf[1024];
	size_t n;

	vsnprintf(buf, sizeof(buf), fmt, ap);
	/* One line per message, whatever the caller passed. */
	n = strlen(buf);
	while (n && buf[n - 1] == '\n')
		buf[--n] = '\0';
	fprintf(stderr, "spiketrace: %s%s\n", level, buf);
}

void log_err(const char *fmt, ...)
{
	va_list ap;

	st_errors++;
	va_start(ap, fmt);
	vlog("", fmt, ap);
	va_end(ap);
}

void log_warn(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vlog("warning: ", fmt, ap);
	va_end(ap);
}

void log_info(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vlog("", fmt, ap);
	va_end(ap);
}

void log_dbg(const char *fmt, ...)
{
	va_list ap;

	if (st_verbose < 1)
		return;
	va_start(ap, fmt);
	vlog("debug: ", fmt, ap);
	va_end(ap);
}

static int libbpf_print(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	/* libbpf warns loudly about probes we expect to fail; show with -v. */
	if (level == LIBBPF_DEBUG && st_verbose < 2)
		return 0;
	if (level == LIBBPF_INFO && st_verbose < 1)
		return 0;
	if (level == LIBBPF_WARN && st_verbose < 1)
		return 0;
	fputs("libbpf: ", stderr);
	return vfprintf(stderr, fmt, ap);
}

void log_init(void)
{
	libbpf_set_print(libbpf_print);
}
