/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * What several unit tests need: removing the temporary tree a fixture made,
 * counting a string in a text, keeping an output to look at.
 */
#ifndef ST_TESTUTIL_H
#define ST_TESTUTIL_H

#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static int test_rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	return remove(path);
}

/* Deletes dir and everything below it, symlinks not followed. 0 or -1. */
static inline int test_rmtree(const char *dir)
{
	return nftw(dir, test_rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

/* How often needle stands in hay, overlaps included. */
static inline size_t test_count(const char *hay, const char *needle)
{
	size_t n = 0;

	for (hay = strstr(hay, needle); hay; hay = strstr(hay + 1, needle))
		n++;
	return n;
}

/* With the variable env set to a path (ST_HTML_OUT=FILE ...), buf[len] is written there. */
static inline void test_keep(const char *env, const void *buf, size_t len)
{
	const char *path = getenv(env);
	FILE *f = path ? fopen(path, "w") : NULL;

	if (!f)
		return;
	fwrite(buf, 1, len, f);
	fclose(f);
}

#endif
