/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/* Report writers: a finalized model in, one format out. */
#ifndef ST_REPORT_H
#define ST_REPORT_H

#include <stdio.h>

#include "model.h"

void report_json(struct model *m, FILE *out);
void report_text(struct model *m, FILE *out, const char *source);

#endif
