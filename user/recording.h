/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * The recording file: a header, then self-checking frames appended as the
 * recorder runs. Format (all little-endian, docs/recording.md):
 *
 *   header  struct rec_header (magic "SPKTRACE", version, sizes, clocks)
 *   frame*  struct rec_frame_hdr + payload, payload padded to 8 bytes
 *   end     a REC_END frame written by a clean close
 *
 * Each frame carries the CRC-32 (zlib) of its payload, so a reader stops at
 * the first torn or corrupted frame and reports the file as cut short:
 * everything before the recorder's last flush survives a SIGKILL.
 */
#ifndef ST_RECORDING_H
#define ST_RECORDING_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define REC_MAGIC "SPKTRACE"
#define REC_VERSION 1
#define REC_MAX_FRAME (1u << 24) /* larger frames are corruption */

enum rec_frame_type {
	REC_EVENT = 1, /* a raw BPF record (include/), starts with st_hdr */
	REC_CGROUP = 2, /* struct rec_cgroup + path */
	REC_PROC_SEED = 3, /* struct rec_proc_seed: a process alive at start */
	REC_LOST = 4, /* struct rec_lost: cumulative drop counters */
	REC_END = 5, /* struct rec_end: clean close */
	REC_TRIGGER = 6, /* struct rec_trigger: a flight-recorder trigger fired */
};

struct rec_header {
	char magic[8];
	uint32_t version;
	uint32_t hdr_size; /* sizeof(struct rec_header) when written */
	uint64_t start_mono_ns;
	uint64_t start_real_ns;
	uint32_t concerns; /* bitmask of concerns recorded */
	uint32_t pad;
	char host[64];
	char kernel[64];
};

struct rec_frame_hdr {
	uint32_t type;
	uint32_t len; /* payload bytes, without padding */
	uint32_t crc; /* crc32 of the payload */
	uint32_t pad;
};

enum cg_hier {
	CG_V2 = 0, /* the cgroup2 (default) hierarchy */
	CG_MEM = 1, /* the cgroup v1 memory controller hierarchy */
};

struct rec_cgroup {
	uint64_t id;
	uint32_t hier; /* enum cg_hier */
	uint32_t path_len;
	char path[]; /* path_len bytes, no NUL; relative to the mount ("/a/b") */
};

struct rec_proc_seed {
	uint64_t ts; /* CLOCK_MONOTONIC ns when read */
	uint32_t pid;
	uint32_t ppid;
	uint32_t uid;
	uint32_t args_len;
	uint32_t kthread;
	uint32_t pad;
	char comm[16];
	char filename[256];
	char args[512];
	char cg_v2[256]; /* path, "" if unknown */
	char cg_mem[256]; /* path, "" if no v1 memory hierarchy */
};

struct rec_lost {
	uint64_t ts;
	uint64_t bpf; /* dropped in the kernel (ring buffer full, ...) */
	uint64_t user; /* dropped or undecodable in userspace */
};

struct rec_end {
	uint64_t ts;
	uint64_t frames; /* frames written before this one */
};

struct rec_trigger {
	uint64_t ts;
	uint32_t pid; /* the process it names, 0 if none */
	uint32_t pad;
	char detail[96]; /* "oom: OOM kill of fwupd[1234]", NUL-padded */
};

struct rec_writer;
struct rec_reader;

/*
 * Creates path (mode 0600, never following a symlink at path; an existing
 * regular file is replaced). Returns NULL and sets errno on failure.
 */
struct rec_writer *rec_create(const char *path, const struct rec_header *h);
/* Buffers one frame; flushes by itself when the buffer fills. 0 or -errno. */
int rec_write(struct rec_writer *w, uint32_t type, const void *payload, uint32_t len);
/* Hands buffered frames to the kernel (write(2)); 0 or -errno. */
int rec_flush(struct rec_writer *w);
uint64_t rec_frames(const struct rec_writer *w);
/* Writes REC_END (if end != NULL), flushes, closes, frees. 0 or -errno. */
int rec_close(struct rec_writer *w, const struct rec_end *end);

/*
 * Opens and validates the header. On failure returns NULL and writes a
 * one-line reason into err (e.g. "not a spiketrace recording").
 */
struct rec_reader *rec_open(const char *path, char *err, size_t errlen);
const struct rec_header *rec_hdr(const struct rec_reader *r);
/*
 * Next frame: 1 and fills type/payload/len (payload valid until the next
 * call), 0 at a clean end, -1 when the file is cut short or corrupt (then
 * rec_error() says where and why; frames before it were fine).
 */
int rec_next(struct rec_reader *r, uint32_t *type, const void **payload, uint32_t *len);
bool rec_complete(const struct rec_reader *r); /* REC_END seen */
const char *rec_error(const struct rec_reader *r);
void rec_free(struct rec_reader *r);

#endif
