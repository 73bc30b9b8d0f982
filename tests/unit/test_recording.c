// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "testutil.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zlib.h>

#include "recording.h"
#include "util.h"

#define BIG_LEN (300u * 1024) /* more than the writer's 256 KiB buffer */

struct tdir {
	char dir[64];
	char path[128]; /* dir/rec, the usual recording */
	char tmp[128]; /* dir/cut, scratch copies */
};

static int setup(void **state)
{
	struct tdir *t = calloc(1, sizeof(*t));

	if (!t)
		return -1;
	strcpy(t->dir, "/tmp/st-rec-XXXXXX");
	if (!mkdtemp(t->dir)) {
		free(t);
		return -1;
	}
	snprintf(t->path, sizeof(t->path), "%s/rec", t->dir);
	snprintf(t->tmp, sizeof(t->tmp), "%s/cut", t->dir);
	*state = t;
	return 0;
}

static int teardown(void **state)
{
	struct tdir *t = *state;
	int err = test_rmtree(t->dir);

	free(t);
	return err;
}

static void fill(unsigned char *p, size_t len, unsigned seed)
{
	size_t i;

	for (i = 0; i < len; i++)
		p[i] = (unsigned char)(i * 31 + seed * 7 + (i >> 8));
}

static void check_payload(const void *p, uint32_t len, uint32_t want_len, unsigned seed)
{
	unsigned char *want = malloc(want_len ? want_len : 1);

	assert_non_null(want);
	assert_int_equal(len, want_len);
	fill(want, want_len, seed);
	if (want_len)
		assert_memory_equal(p, want, want_len);
	free(want);
}

static struct rec_header test_header(void)
{
	struct rec_header h;

	memset(&h, 0, sizeof(h));
	/* Garbage the writer must overwrite. */
	memcpy(h.magic, "XXXXXXXX", 8);
	h.version = 99;
	h.hdr_size = 3;
	h.start_mono_ns = 123456789012345ULL;
	h.start_real_ns = 1700000000123456789ULL;
	h.concerns = 0x5;
	strcpy(h.host, "testhost");
	strcpy(h.kernel, "6.1.0-test");
	return h;
}

static void write_frame(struct rec_writer *w, uint32_t type, uint32_t len, unsigned seed)
{
	unsigned char *p = malloc(len ? len : 1);

	assert_non_null(p);
	fill(p, len, seed);
	assert_int_equal(rec_write(w, type, p, len), 0);
	free(p);
}

static const uint32_t sizes[] = { 0, 1, 7, 8, 9, 100, 4096, BIG_LEN, 3, 65536 };

static void test_round_trip(void **state)
{
	struct tdir *t = *state;
	struct rec_header h = test_header();
	struct rec_end end = { .ts = 42, .frames = ARRAY_SIZE(sizes) };
	struct rec_writer *w = rec_create(t->path, &h);
	const struct rec_header *rh;
	struct rec_reader *r;
	const void *p;
	uint32_t type, len;
	char err[256] = "";
	size_t i;

	assert_non_null(w);
	for (i = 0; i < ARRAY_SIZE(sizes); i++)
		write_frame(w, REC_EVENT + (uint32_t)(i % 4), sizes[i], (unsigned)i);
	assert_int_equal(rec_frames(w), ARRAY_SIZE(sizes));
	assert_int_equal(rec_close(w, &end), 0);

	r = rec_open(t->path, err, sizeof(err));
	assert_non_null(r);
	rh = rec_hdr(r);
	assert_memory_equal(rh->magic, REC_MAGIC, 8);
	assert_int_equal(rh->version, REC_VERSION);
	assert_int_equal(rh->hdr_size, sizeof(struct rec_header));
	assert_int_equal(rh->start_mono_ns, h.start_mono_ns);
	assert_int_equal(rh->start_real_ns, h.start_real_ns);
	assert_int_equal(rh->concerns, h.concerns);
	assert_string_equal(rh->host, "testhost");
	assert_string_equal(rh->kernel, "6.1.0-test");

	for (i = 0; i < ARRAY_SIZE(sizes); i++) {
		assert_int_equal(rec_next(r, &type, &p, &len), 1);
		assert_int_equal(type, REC_EVENT + i % 4);
		/* Payloads are handed out as structs: they must be aligned. */
		assert_int_equal((uintptr_t)p % 8, 0);
		check_payload(p, len, sizes[i], (unsigned)i);
		assert_false(rec_complete(r));
	}
	assert_int_equal(rec_next(r, &type, &p, &len), 1);
	assert_int_equal(type, REC_END);
	assert_int_equal(len, sizeof(end));
	assert_memory_equal(p, &end, sizeof(end));
	assert_true(rec_complete(r));
	assert_int_equal(rec_next(r, &type, &p, &len), 0);
	assert_int_equal(rec_next(r, &type, &p, &len), 0);
	assert_true(rec_complete(r));
	assert_string_equal(rec_error(r), "");
	rec_free(r);
}

/* Enough small frames to fill and flush the buffer several times. */
static void test_many_frames(void **state)
{
	struct tdir *t = *state;
	struct rec_header h = test_header();
	struct rec_writer *w = rec_create(t->path, &h);
	struct rec_end end = { .ts = 1, .frames = 20000 };
	struct rec_reader *r;
	const void *p;
	uint32_t type, len, i;
	char err[256];
	struct stat st;

	assert_non_null(w);
	for (i = 0; i < 20000; i++) {
		write_frame(w, REC_EVENT, 13 + i % 200, i);
		if (i == 9999)
			assert_int_equal(rec_flush(w), 0);
	}
	assert_int_equal(rec_close(w, &end), 0);
	assert_int_equal(stat(t->path, &st), 0);
	assert_true(st.st_size > 3 * 256 * 1024);

	r = rec_open(t->path, err, sizeof(err));
	assert_non_null(r);
	for (i = 0; i < 20000; i++) {
		assert_int_equal(rec_next(r, &type, &p, &len), 1);
		assert_int_equal(type, REC_EVENT);
		check_payload(p, len, 13 + i % 200, i);
	}
	assert_int_equal(rec_next(r, &type, &p, &len), 1);
	assert_int_equal(type, REC_END);
	assert_int_equal(rec_next(r, &type, &p, &len), 0);
	assert_true(rec_complete(r));
	rec_free(r);
}

static void test_no_end_is_cut_short(void **state)
{
	struct tdir *t = *state;
	struct rec_header h = test_header();
	struct rec_writer *w = rec_create(t->path, &h);
	struct rec_reader *r;
	const void *p;
	uint32_t type, len;
	char err[256];

	assert_non_null(w);
	write_frame(w, REC_LOST, 24, 1);
	assert_int_equal(rec_close(w, NULL), 0);

	r = rec_open(t->path, err, sizeof(err));
	assert_non_null(r);
	assert_int_equal(rec_next(r, &type, &p, &len), 1);
	check_payload(p, len, 24, 1);
	assert_int_equal(rec_next(r, &type, &p, &len), -1);
	assert_false(rec_complete(r));
	assert_string_equal(rec_error(r), "recording cut short at byte 208: the recorder did not "
					  "finish (killed?)");
	/* Stays failed. */
	assert_int_equal(rec_next(r, &type, &p, &len), -1);
	rec_free(r);
}

static void write_file(const char *path, const void *data, size_t len)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, data, len), (ssize_t)len);
	assert_int_equal(close(fd), 0);
}

static unsigned char *read_file(const char *path, size_t *len)
{
	struct stat st;
	unsigned char *buf;
	int fd = open(path, O_RDONLY);

	assert_true(fd >= 0);
	assert_int_equal(fstat(fd, &st), 0);
	buf = malloc((size_t)st.st_size);
	assert_non_null(buf);
	assert_int_equal(read(fd, buf, (size_t)st.st_size), st.st_size);
	close(fd);
	*len = (size_t)st.st_size;
	return buf;
}

static const uint32_t small_sizes[] = { 0, 3, 8, 13, 1 };

/* Writes a small recording and returns where each frame ends. */
static void write_small(const char *path, size_t *ends)
{
	struct rec_header h = test_header();
	struct rec_writer *w = rec_create(path, &h);
	struct rec_end end = { .ts = 9, .frames = ARRAY_SIZE(small_sizes) };
	size_t i, off = sizeof(struct rec_header);

	assert_non_null(w);
	for (i = 0; i < ARRAY_SIZE(small_sizes); i++) {
		write_frame(w, REC_EVENT, small_sizes[i], (unsigned)i);
		off += sizeof(struct rec_frame_hdr) + ((small_sizes[i] + 7) & ~7u);
		ends[i] = off;
	}
	ends[i] = off + sizeof(struct rec_frame_hdr) + sizeof(end);
	assert_int_equal(rec_close(w, &end), 0);
}

/* Checks the bytes on disk against the documented format, not via the reader. */
static void test_raw_layout(void **state)
{
	struct tdir *t = *state;
	struct rec_header h = test_header();
	struct rec_writer *w = rec_create(t->path, &h);
	static const uint32_t lens[] = { 200, 1, 5, 0, 16 };
	struct rec_frame_hdr fh;
	unsigned char *data, *want;
	size_t full, off, i, k;

	assert_non_null(w);
	for (i = 0; i < ARRAY_SIZE(lens); i++) {
		write_frame(w, REC_CGROUP, lens[i], (unsigned)i + 1);
		/* Reuse the buffer so stale payload bytes would land in padding. */
		if (i == 0)
			assert_int_equal(rec_flush(w), 0);
	}
	assert_int_equal(rec_close(w, NULL), 0);

	data = read_file(t->path, &full);
	assert_memory_equal(data, "SPKTRACE", 8);
	off = sizeof(struct rec_header);
	for (i = 0; i < ARRAY_SIZE(lens); i++) {
		assert_true(off + sizeof(fh) <= full);
		memcpy(&fh, data + off, sizeof(fh));
		off += sizeof(fh);
		assert_int_equal(fh.type, REC_CGROUP);
		assert_int_equal(fh.len, lens[i]);
		assert_int_equal(fh.pad, 0);
		assert_int_equal(fh.crc, (uint32_t)crc32(0L, data + off, lens[i]));
		want = malloc(lens[i] + 1);
		assert_non_null(want);
		fill(want, lens[i], (unsigned)i + 1);
		assert_memory_equal(data + off, want, lens[i]);
		free(want);
		for (k = lens[i]; k % 8; k++)
			assert_int_equal(data[off + k], 0);
		off += k;
	}
	assert_int_equal(off, full);
	free(data);
}

static void test_truncation_every_byte(void **state)
{
	struct tdir *t = *state;
	size_t ends[ARRAY_SIZE(small_sizes) + 1];
	size_t full, cut, i;
	unsigned char *data;

	write_small(t->path, ends);
	data = read_file(t->path, &full);
	assert_int_equal(full, ends[ARRAY_SIZE(small_sizes)]);

	for (cut = 0; cut < full; cut++) {
		struct rec_reader *r;
		const void *p;
		uint32_t type, len;
		char err[256] = "";
		size_t want = 0;
		int ret;

		write_file(t->tmp, data, cut);
		r = rec_open(t->tmp, err, sizeof(err));
		if (!r) {
			/* Only a torn header may fail the open, and it must say so. */
			assert_true(cut < sizeof(struct rec_header));
			assert_string_equal(err, "recording is truncated: header incomplete");
			continue;
		}
		assert_true(cut >= sizeof(struct rec_header));
		for (i = 0; i < ARRAY_SIZE(small_sizes); i++)
			if (ends[i] <= cut)
				want++;
		for (i = 0; (ret = rec_next(r, &type, &p, &len)) == 1; i++) {
			assert_true(i < want);
			assert_int_equal(type, REC_EVENT);
			check_payload(p, len, small_sizes[i], (unsigned)i);
		}
		assert_int_equal(ret, -1);
		assert_int_equal(i, want);
		assert_false(rec_complete(r));
		assert_non_null(strstr(rec_error(r), "cut short at byte"));
		rec_free(r);
	}
	free(data);
}

/* Reads path and returns how many frames came before the result ret. */
static size_t read_until_end(const char *path, int *ret, char *err, size_t errlen)
{
	char oerr[256];
	struct rec_reader *r = rec_open(path, oerr, sizeof(oerr));
	const void *p;
	uint32_t type, len;
	size_t n = 0;

	assert_non_null(r);
	while ((*ret = rec_next(r, &type, &p, &len)) == 1)
		n++;
	snprintf(err, errlen, "%s", rec_error(r));
	rec_free(r);
	return n;
}

static void test_bit_flips(void **state)
{
	struct tdir *t = *state;
	size_t ends[ARRAY_SIZE(small_sizes) + 1];
	size_t full, start, b;
	unsigned char *data;
	char err[256];
	int ret, bit;

	write_small(t->path, ends);
	data = read_file(t->path, &full);

	/* Every bit of frame 3's payload (13 bytes, after the frame header). */
	start = ends[2] + sizeof(struct rec_frame_hdr);
	for (b = start; b < start + small_sizes[3]; b++) {
		for (bit = 0; bit < 8; bit++) {
			data[b] ^= (unsigned char)(1u << bit);
			write_file(t->tmp, data, full);
			data[b] ^= (unsigned char)(1u << bit);
			assert_int_equal(read_until_end(t->tmp, &ret, err, sizeof(err)), 3);
			assert_int_equal(ret, -1);
			assert_non_null(strstr(err, "checksum"));
			assert_non_null(strstr(err, "corrupt at byte"));
		}
	}

	/* Every bit of frame 3's len field: never accepted. */
	start = ends[2] + offsetof(struct rec_frame_hdr, len);
	for (b = start; b < start + 4; b++) {
		for (bit = 0; bit < 8; bit++) {
			data[b] ^= (unsigned char)(1u << bit);
			write_file(t->tmp, data, full);
			data[b] ^= (unsigned char)(1u << bit);
			assert_int_equal(read_until_end(t->tmp, &ret, err, sizeof(err)), 3);
			assert_int_equal(ret, -1);
			assert_true(err[0] != '\0');
		}
	}

	/* Every bit of the stored crc. */
	start = ends[2] + offsetof(struct rec_frame_hdr, crc);
	for (b = start; b < start + 4; b++) {
		for (bit = 0; bit < 8; bit++) {
			data[b] ^= (unsigned char)(1u << bit);
			write_file(t->tmp, data, full);
			data[b] ^= (unsigned char)(1u << bit);
			assert_int_equal(read_until_end(t->tmp, &ret, err, sizeof(err)), 3);
			assert_int_equal(ret, -1);
			assert_non_null(strstr(err, "checksum"));
		}
	}
	free(data);
}

static void test_huge_len_is_corrupt(void **state)
{
	struct tdir *t = *state;
	size_t ends[ARRAY_SIZE(small_sizes) + 1];
	struct rec_frame_hdr fh;
	size_t full;
	unsigned char *data;
	char err[256], want[128];
	int ret;

	write_small(t->path, ends);
	data = read_file(t->path, &full);
	memcpy(&fh, data + ends[1], sizeof(fh));
	fh.len = REC_MAX_FRAME + 1;
	memcpy(data + ends[1], &fh, sizeof(fh));
	write_file(t->tmp, data, full);
	assert_int_equal(read_until_end(t->tmp, &ret, err, sizeof(err)), 2);
	assert_int_equal(ret, -1);
	snprintf(want, sizeof(want), "recording corrupt at byte %zu: frame length %u is too large",
		 ends[1], REC_MAX_FRAME + 1);
	assert_string_equal(err, want);
	free(data);
}

static void test_data_after_end(void **state)
{
	struct tdir *t = *state;
	size_t ends[ARRAY_SIZE(small_sizes) + 1];
	size_t full, first;
	unsigned char *data, *twice;
	char err[256];
	int ret;

	write_small(t->path, ends);
	data = read_file(t->path, &full);
	/* Valid frames after a valid end frame: the file was tampered with. */
	first = sizeof(struct rec_header);
	twice = malloc(full * 2);
	assert_non_null(twice);
	memcpy(twice, data, full);
	memcpy(twice + full, data + first, full - first);
	write_file(t->tmp, twice, full + full - first);
	assert_int_equal(read_until_end(t->tmp, &ret, err, sizeof(err)),
			 ARRAY_SIZE(small_sizes) + 1);
	assert_int_equal(ret, -1);
	assert_non_null(strstr(err, "corrupt"));
	free(twice);
	free(data);
}

static void test_short_end_frame(void **state)
{
	struct tdir *t = *state;
	struct rec_header h = test_header();
	struct rec_writer *w = rec_create(t->path, &h);
	char err[256];
	int ret;

	/* A REC_END too short to hold struct rec_end must not be handed out. */
	assert_non_null(w);
	assert_int_equal(rec_write(w, REC_END, "abc", 3), 0);
	assert_int_equal(rec_close(w, NULL), 0);
	assert_int_equal(read_until_end(t->path, &ret, err, sizeof(err)), 0);
	assert_int_equal(ret, -1);
	assert_non_null(strstr(err, "corrupt"));
}

static void test_symlink_refused(void **state)
{
	struct tdir *t = *state;
	struct rec_header h = test_header();
	struct stat st;

	assert_int_equal(symlink(t->tmp, t->path), 0);
	errno = 0;
	assert_null(rec_create(t->path, &h));
	assert_int_equal(errno, ELOOP);
	/* The link target was not created. */
	assert_int_equal(lstat(t->tmp, &st), -1);
	assert_int_equal(errno, ENOENT);
}

static void test_mode_0600(void **state)
{
	struct tdir *t = *state;
	struct rec_header h = test_header();
	struct rec_writer *w;
	struct stat st;
	mode_t old = umask(0);
	size_t len;
	unsigned char *data;

	w = rec_create(t->path, &h);
	umask(old);
	assert_non_null(w);
	assert_int_equal(stat(t->path, &st), 0);
	assert_true(S_ISREG(st.st_mode));
	assert_int_equal(st.st_mode & 07777, 0600);
	/* The header is on disk before any frame or flush. */
	assert_int_equal(st.st_size, sizeof(struct rec_header));
	assert_int_equal(rec_close(w, NULL), 0);

	/* An existing readable file is truncated and made private. */
	write_file(t->tmp, "old contents that are long enough to notice", 43);
	assert_int_equal(chmod(t->tmp, 0644), 0);
	w = rec_create(t->tmp, &h);
	assert_non_null(w);
	assert_int_equal(rec_close(w, NULL), 0);
	assert_int_equal(stat(t->tmp, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0600);
	data = read_file(t->tmp, &len);
	assert_int_equal(len, sizeof(struct rec_header));
	assert_memory_equal(data, REC_MAGIC, 8);
	free(data);
}

static void test_bad_files(void **state)
{
	struct tdir *t = *state;
	struct rec_header h = test_header();
	char text[300], err[256];

	memset(text, 'x', sizeof(text));
	write_file(t->tmp, text, sizeof(text));
	assert_null(rec_open(t->tmp, err, sizeof(err)));
	assert_string_equal(err, "not a spiketrace recording");

	/* Shorter than a header but clearly not one either. */
	write_file(t->tmp, "hi\n", 3);
	assert_null(rec_open(t->tmp, err, sizeof(err)));
	assert_string_equal(err, "not a spiketrace recording");

	write_file(t->tmp, "", 0);
	assert_null(rec_open(t->tmp, err, sizeof(err)));
	assert_string_equal(err, "recording is truncated: header incomplete");

	memcpy(h.magic, REC_MAGIC, 8);
	h.version = 2;
	h.hdr_size = sizeof(h);
	write_file(t->tmp, &h, sizeof(h));
	assert_null(rec_open(t->tmp, err, sizeof(err)));
	assert_string_equal(
		err, "recording version 2 is not supported (this spiketrace reads version 1)");

	h.version = REC_VERSION;
	h.hdr_size = 8;
	write_file(t->tmp, &h, sizeof(h));
	assert_null(rec_open(t->tmp, err, sizeof(err)));
	assert_non_null(strstr(err, "header"));

	errno = 0;
	assert_null(rec_open("/nonexistent/spiketrace.rec", err, sizeof(err)));
	assert_int_equal(errno, ENOENT);
	assert_string_equal(err, strerror(ENOENT));

	/* err may be omitted. */
	assert_null(rec_open(t->tmp, NULL, 0));
}

static void test_write_rejects_bad_frames(void **state)
{
	struct tdir *t = *state;
	struct rec_header h = test_header();
	struct rec_writer *w = rec_create(t->path, &h);
	static const char one = 1;
	int ret;
	char err[256];

	assert_non_null(w);
	/* Never read past the (1-byte) payload: the length check comes first. */
	assert_int_equal(rec_write(w, REC_EVENT, &one, REC_MAX_FRAME + 1), -EINVAL);
	assert_int_equal(rec_write(w, REC_EVENT, NULL, 4), -EINVAL);
	assert_int_equal(rec_write(w, REC_EVENT, NULL, 0), 0);
	assert_int_equal(rec_frames(w), 1);
	assert_int_equal(rec_close(w, NULL), 0);
	assert_int_equal(read_until_end(t->path, &ret, err, sizeof(err)), 1);
	assert_int_equal(ret, -1);
}

/* A larger hdr_size from a future writer is skipped, not misparsed. */
static void test_larger_header(void **state)
{
	struct tdir *t = *state;
	size_t ends[ARRAY_SIZE(small_sizes) + 1];
	size_t full, hs = sizeof(struct rec_header);
	unsigned char *data, *big;
	struct rec_header h;
	char err[256];
	int ret;

	write_small(t->path, ends);
	data = read_file(t->path, &full);
	big = calloc(1, full + 16);
	assert_non_null(big);
	memcpy(&h, data, hs);
	h.hdr_size = (uint32_t)hs + 16;
	memcpy(big, &h, hs);
	memcpy(big + hs + 16, data + hs, full - hs);
	write_file(t->tmp, big, full + 16);
	assert_int_equal(read_until_end(t->tmp, &ret, err, sizeof(err)),
			 ARRAY_SIZE(small_sizes) + 1);
	assert_int_equal(ret, 0);
	free(big);
	free(data);
}

/* A pipe cannot be mapped; the reader must still take it. */
static void test_read_from_pipe(void **state)
{
	struct tdir *t = *state;
	size_t ends[ARRAY_SIZE(small_sizes) + 1];
	char fifo[160], err[256];
	size_t full;
	unsigned char *data;
	int ret, status;
	pid_t pid;

	write_small(t->path, ends);
	data = read_file(t->path, &full);
	snprintf(fifo, sizeof(fifo), "%s/fifo", t->dir);
	assert_int_equal(mkfifo(fifo, 0600), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		int fd = open(fifo, O_WRONLY);

		_exit(fd >= 0 && write(fd, data, full) == (ssize_t)full ? 0 : 1);
	}
	assert_int_equal(read_until_end(fifo, &ret, err, sizeof(err)), ARRAY_SIZE(small_sizes) + 1);
	assert_int_equal(ret, 0);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	free(data);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_round_trip, setup, teardown),
		cmocka_unit_test_setup_teardown(test_many_frames, setup, teardown),
		cmocka_unit_test_setup_teardown(test_no_end_is_cut_short, setup, teardown),
		cmocka_unit_test_setup_teardown(test_raw_layout, setup, teardown),
		cmocka_unit_test_setup_teardown(test_truncation_every_byte, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bit_flips, setup, teardown),
		cmocka_unit_test_setup_teardown(test_huge_len_is_corrupt, setup, teardown),
		cmocka_unit_test_setup_teardown(test_data_after_end, setup, teardown),
		cmocka_unit_test_setup_teardown(test_short_end_frame, setup, teardown),
		cmocka_unit_test_setup_teardown(test_symlink_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_mode_0600, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_files, setup, teardown),
		cmocka_unit_test_setup_teardown(test_write_rejects_bad_frames, setup, teardown),
		cmocka_unit_test_setup_teardown(test_larger_header, setup, teardown),
		cmocka_unit_test_setup_teardown(test_read_from_pipe, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
