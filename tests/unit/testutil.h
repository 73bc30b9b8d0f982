/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/* What several unit tests need: removing the temporary tree a fixture made. */
#ifndef ST_TESTUTIL_H
#define ST_TESTUTIL_H

#include <ftw.h>
#include <stdio.h>
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

#endif
