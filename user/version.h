/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/* The version: `spiketrace --version`, and what writers put in their metadata. */
#ifndef ST_VERSION_H
#define ST_VERSION_H

#define ST_VERSION "0.1.0"

#endif
