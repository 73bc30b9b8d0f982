// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * The recording reader and everything `spiketrace report` does with what it
 * reads. A recording comes from disk: cut short, bit-flipped, or made by
 * someone else on purpose.
 *
 * Each input is read twice. First as it is, by the reader alone (user/
 * recording.c): a random mutation nearly always breaks a frame's CRC, so
 * this pass explores the framing. Then with the magic, the version and
 * every frame's CRC repaired, so the mutated payloads get past the reader
 * into the replay (user/spine.c), the model, and each report format, the
 * way `report` runs them (a fresh model per format), plus the Prometheus
 * exposition `serve` builds from a model.
 */
#include <zlib.h>

#include "fuzz.h"
#include "log.h"
#include "metrics.h"
#include "model.h"
#include "recording.h"
#include "report.h"
#include "spine.h"

static FILE *devnull;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	devnull = fopen("/dev/null", "we");
	FUZZ_CHECK(devnull);
	return 0;
}

/* The reader alone, over the bytes as they came. */
static void read_raw(const uint8_t *data, size_t size)
{
	const char *path = fuzz_file(0, data, size);
	const void *payload;
	uint32_t type, len;
	struct rec_reader *r;
	unsigned int sum = 0;
	char err[256];
	int rc;

	r = rec_open(path, err, sizeof(err));
	if (!r) {
		FUZZ_CHECK(memchr(err, '\0', sizeof(err)) && err[0]);
		return;
	}
	while ((rc = rec_next(r, &type, &payload, &len)) == 1) {
		/* Every payload byte the reader hands out must be readable. */
		if (len)
			sum += ((const unsigned char *)payload)[0] +
			       ((const unsigned char *)payload)[len - 1];
		FUZZ_CHECK(((uintptr_t)payload & 7) == 0);
	}
	FUZZ_CHECK(rc == 0 || rc == -1);
	FUZZ_CHECK(rc != 0 || rec_complete(r));
	if (rc < 0)
		FUZZ_CHECK(rec_error(r)[0]);
	/* Past the end (or an error) the reader keeps saying so. */
	FUZZ_CHECK(rec_next(r, &type, &payload, &len) == rc);
	(void)sum;
	rec_free(r);
}

/* Magic, version and CRCs made right, so payloads reach the model. */
static uint8_t *repair(const uint8_t *data, size_t size, size_t *outlen)
{
	size_t n = size < sizeof(struct rec_header) ? sizeof(struct rec_header) : size, off;
	struct rec_header h;
	uint8_t *p = calloc(1, n);

	FUZZ_CHECK(p);
	memcpy(p, data, size);
	memcpy(&h, p, sizeof(h));
	memcpy(h.magic, REC_MAGIC, sizeof(h.magic));
	h.version = REC_VERSION;
	memcpy(p, &h, sizeof(h));
	off = h.hdr_size;
	while (off + sizeof(struct rec_frame_hdr) <= n && off >= sizeof(h)) {
		struct rec_frame_hdr fh;

		memcpy(&fh, p + off, sizeof(fh));
		if (fh.len > n - off - sizeof(fh))
			break;
		fh.crc = (uint32_t)crc32(0L, p + off + sizeof(fh), fh.len);
		memcpy(p + off, &fh, sizeof(fh));
		off += sizeof(fh) + ((fh.len + 7ull) & ~7ull);
	}
	*outlen = n;
	return p;
}

enum fmt { F_TEXT, F_JSON, F_FOLDED, F_PPROF, F_PERFETTO, F_HTML, F_METRICS, F_NR };

static void report_one(const char *path, enum fmt f)
{
	struct model *m = model_new(0);
	struct metrics mx;

	FUZZ_CHECK(m);
	/* A recording the reader refuses has no report: cmd_report stops there too. */
	if (spine_replay(path, m)) {
		model_free(m);
		return;
	}
	switch (f) {
	case F_TEXT:
		report_text(m, devnull, path);
		break;
	case F_JSON:
		report_json(m, devnull);
		break;
	case F_FOLDED:
		report_folded(m, devnull);
		break;
	case F_PPROF:
		report_pprof(m, devnull);
		break;
	case F_PERFETTO:
		report_perfetto(m, devnull);
		break;
	case F_HTML:
		report_html(m, devnull);
		break;
	case F_METRICS:
		FUZZ_CHECK(!mx_init(&mx, MXF_CPU | MXF_MEM | MXF_TLS | MXF_TCP, MX_CAP));
		mx_update(&mx, m);
		mx_write(&mx, devnull);
		mx_free(&mx);
		break;
	case F_NR:
		break;
	}
	model_free(m);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *path;
	uint8_t *fixed;
	size_t n;
	int f;

	read_raw(data, size);
	fixed = repair(data, size, &n);
	path = fuzz_file(1, fixed, n);
	for (f = 0; f < F_NR; f++)
		report_one(path, (enum fmt)f);
	free(fixed);
	clearerr(devnull);
	return 0;
}
