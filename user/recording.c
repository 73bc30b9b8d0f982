// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "recording.h"

/* The format is little-endian and written as raw structs. */
#if __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "the recording format is little-endian; add byte swapping for this host"
#endif

_Static_assert(sizeof(struct rec_header) % 8 == 0, "frames must start 8-aligned");
_Static_assert(sizeof(struct rec_frame_hdr) == 16, "frame header is 16 bytes");

#define REC_BUF_SIZE (256u * 1024)
#define REC_MAX_HDR (64u * 1024) /* a larger hdr_size is corruption */

static inline uint64_t pad8(uint64_t n)
{
	return (n + 7) & ~(uint64_t)7;
}

struct rec_writer {
	int fd;
	int err; /* first write error (-errno); sticky, the file is torn after it */
	uint64_t frames;
	size_t len;
	unsigned char *buf;
};

static int write_all(int fd, const void *data, size_t len)
{
	const unsigned char *p = data;

	while (len) {
		ssize_t n = write(fd, p, len);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (n == 0)
			return -EIO; /* would loop forever otherwise */
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

struct rec_writer *rec_create(const char *path, const struct rec_header *h)
{
	struct rec_header hdr = { 0 };
	struct rec_writer *w;
	struct stat st;
	int err;

	if (h)
		hdr = *h;
	w = calloc(1, sizeof(*w));
	if (!w)
		return NULL;
	w->buf = malloc(REC_BUF_SIZE);
	if (!w->buf) {
		free(w);
		errno = ENOMEM;
		return NULL;
	}
	/* O_NOFOLLOW: a planted symlink must not redirect a root-owned write. */
	w->fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (w->fd < 0) {
		err = errno;
		goto fail;
	}
	/* A replaced file keeps its old mode; recordings hold argv, keep them private. */
	if (fstat(w->fd, &st) == 0 && S_ISREG(st.st_mode) && (st.st_mode & 077) &&
	    fchmod(w->fd, 0600)) {
		err = errno;
		goto fail_close;
	}
	memcpy(hdr.magic, REC_MAGIC, sizeof(hdr.magic));
	hdr.version = REC_VERSION;
	hdr.hdr_size = sizeof(hdr);
	err = -write_all(w->fd, &hdr, sizeof(hdr));
	if (err)
		goto fail_close;
	return w;

fail_close:
	close(w->fd);
fail:
	free(w->buf);
	free(w);
	errno = err;
	return NULL;
}

int rec_flush(struct rec_writer *w)
{
	int err;

	if (w->err)
		return w->err;
	err = write_all(w->fd, w->buf, w->len);
	w->len = 0;
	if (err)
		w->err = err;
	return err;
}

int rec_write(struct rec_writer *w, uint32_t type, const void *payload, uint32_t len)
{
	static const unsigned char zeros[8];
	struct rec_frame_hdr fh = { .type = type, .len = len };
	size_t padded = pad8(len), total = sizeof(fh) + padded;
	int err;

	if (w->err)
		return w->err;
	/* The reader rejects such frames as corruption: never write one. */
	if (len > REC_MAX_FRAME || (len && !payload))
		return -EINVAL;
	fh.crc = (uint32_t)crc32(0L, payload, len);

	if (w->len + total > REC_BUF_SIZE) {
		err = rec_flush(w);
		if (err)
			return err;
	}
	if (total > REC_BUF_SIZE) {
		/* Buffer is empty now; writing in place keeps frames in order. */
		err = write_all(w->fd, &fh, sizeof(fh));
		if (!err)
			err = write_all(w->fd, payload, len);
		if (!err)
			err = write_all(w->fd, zeros, padded - len);
		if (err) {
			w->err = err;
			return err;
		}
	} else {
		memcpy(w->buf + w->len, &fh, sizeof(fh));
		if (len)
			memcpy(w->buf + w->len + sizeof(fh), payload, len);
		memset(w->buf + w->len + sizeof(fh) + len, 0, padded - len);
		w->len += total;
	}
	w->frames++;
	return 0;
}

uint64_t rec_frames(const struct rec_writer *w)
{
	return w->frames;
}

int rec_close(struct rec_writer *w, const struct rec_end *end)
{
	int err = 0;

	if (!w)
		return 0;
	if (end)
		err = rec_write(w, REC_END, end, sizeof(*end));
	if (!err)
		err = rec_flush(w);
	if (close(w->fd) && !err && errno != EINTR)
		err = -errno;
	free(w->buf);
	free(w);
	return err;
}

struct rec_reader {
	const unsigned char *data;
	size_t size;
	bool mapped; /* data is an mmap, else malloc'd */
	size_t off; /* next frame */
	bool end_seen;
	bool failed;
	struct rec_header hdr;
	char err[160];
};

/* Pipes and other non-seekable inputs cannot be mapped: slurp them. */
static int read_whole(int fd, unsigned char **out, size_t *outlen)
{
	size_t cap = 1 << 20, len = 0;
	unsigned char *buf = malloc(cap), *nb;

	if (!buf)
		return -ENOMEM;
	for (;;) {
		ssize_t n;

		if (len == cap) {
			nb = realloc(buf, cap * 2);
			if (!nb) {
				free(buf);
				return -ENOMEM;
			}
			buf = nb;
			cap *= 2;
		}
		n = read(fd, buf + len, cap - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			int e = errno;

			free(buf);
			return -e;
		}
		if (n == 0)
			break;
		len += (size_t)n;
	}
	*out = buf;
	*outlen = len;
	return 0;
}

static int load(struct rec_reader *r, int fd)
{
	struct stat st;
	unsigned char *buf = NULL;
	void *p;
	int err;

	if (fstat(fd, &st))
		return -errno;
	if (!S_ISREG(st.st_mode)) {
		err = read_whole(fd, &buf, &r->size);
		if (err)
			return err;
		r->data = buf;
		return 0;
	}
	if ((uint64_t)st.st_size > SIZE_MAX)
		return -EFBIG;
	r->size = (size_t)st.st_size;
	if (!r->size)
		return 0; /* mmap rejects length 0 */
	/* Never written to; MAP_PRIVATE so a concurrent writer cannot be affected. */
	p = mmap(NULL, r->size, PROT_READ, MAP_PRIVATE, fd, 0);
	if (p == MAP_FAILED)
		return -errno;
	madvise(p, r->size, MADV_SEQUENTIAL);
	r->data = p;
	r->mapped = true;
	return 0;
}

/* Returns a message for a bad header, NULL if it is fine. */
static const char *check_header(struct rec_reader *r, char *buf, size_t buflen)
{
	const size_t magic_len = sizeof(r->hdr.magic);
	uint32_t version, hdr_size;

	if (!r->size)
		return "recording is truncated: header incomplete";
	/* Compare what is there, so a short text file is "not a recording". */
	if (memcmp(r->data, REC_MAGIC, r->size < magic_len ? r->size : magic_len))
		return "not a spiketrace recording";
	if (r->size >= magic_len + sizeof(version)) {
		memcpy(&version, r->data + magic_len, sizeof(version));
		if (version != REC_VERSION) {
			snprintf(buf, buflen,
				 "recording version %u is not supported "
				 "(this spiketrace reads version %d)",
				 version, REC_VERSION);
			return buf;
		}
	}
	if (r->size < sizeof(r->hdr))
		return "recording is truncated: header incomplete";
	memcpy(&r->hdr, r->data, sizeof(r->hdr));
	hdr_size = r->hdr.hdr_size;
	/* Payloads are handed out as struct pointers: keep them 8-aligned. */
	if (hdr_size < sizeof(r->hdr) || hdr_size > REC_MAX_HDR || hdr_size % 8) {
		snprintf(buf, buflen, "recording header is invalid (header size %u)", hdr_size);
		return buf;
	}
	if (hdr_size > r->size)
		return "recording is truncated: header incomplete";
	r->off = hdr_size;
	return NULL;
}

struct rec_reader *rec_open(const char *path, char *err, size_t errlen)
{
	struct rec_reader *r;
	const char *msg;
	char buf[160];
	int fd, e;

	r = calloc(1, sizeof(*r));
	if (!r) {
		e = ENOMEM;
		msg = strerror(e);
		goto fail;
	}
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		e = errno;
		msg = strerror(e);
		goto fail;
	}
	e = -load(r, fd);
	close(fd);
	if (e) {
		msg = strerror(e);
		goto fail;
	}
	msg = check_header(r, buf, sizeof(buf));
	if (msg) {
		e = EINVAL;
		goto fail;
	}
	return r;

fail:
	if (err && errlen)
		snprintf(err, errlen, "%s", msg);
	rec_free(r);
	errno = e;
	return NULL;
}

const struct rec_header *rec_hdr(const struct rec_reader *r)
{
	return &r->hdr;
}

static int bad_frame(struct rec_reader *r, const char *why)
{
	snprintf(r->err, sizeof(r->err), "recording %s", why);
	r->failed = true;
	return -1;
}

int rec_next(struct rec_reader *r, uint32_t *type, const void **payload, uint32_t *len)
{
	struct rec_frame_hdr fh;
	size_t left;
	char why[128];

	*type = 0;
	*payload = NULL;
	*len = 0;
	if (r->failed)
		return -1;
	left = r->size - r->off;
	if (r->end_seen) {
		if (!left)
			return 0;
		snprintf(why, sizeof(why), "corrupt at byte %zu: data after the end frame", r->off);
		return bad_frame(r, why);
	}
	if (left < sizeof(fh)) {
		/* Nothing or a torn frame header: the recorder stopped mid-way. */
		snprintf(why, sizeof(why),
			 "cut short at byte %zu: the recorder did not finish (killed?)", r->off);
		return bad_frame(r, why);
	}
	memcpy(&fh, r->data + r->off, sizeof(fh));
	if (fh.len > REC_MAX_FRAME) {
		snprintf(why, sizeof(why), "corrupt at byte %zu: frame length %u is too large",
			 r->off, fh.len);
		return bad_frame(r, why);
	}
	if (sizeof(fh) + pad8(fh.len) > left) {
		snprintf(why, sizeof(why),
			 "cut short at byte %zu: the recorder did not finish (killed?)", r->off);
		return bad_frame(r, why);
	}
	if ((uint32_t)crc32(0L, r->data + r->off + sizeof(fh), fh.len) != fh.crc) {
		snprintf(why, sizeof(why), "corrupt at byte %zu: checksum mismatch", r->off);
		return bad_frame(r, why);
	}
	/* Callers read struct rec_end from it: a short one would be over-read. */
	if (fh.type == REC_END && fh.len < sizeof(struct rec_end)) {
		snprintf(why, sizeof(why), "corrupt at byte %zu: end frame too short", r->off);
		return bad_frame(r, why);
	}
	*type = fh.type;
	*payload = r->data + r->off + sizeof(fh);
	*len = fh.len;
	r->off += sizeof(fh) + pad8(fh.len);
	if (fh.type == REC_END)
		r->end_seen = true;
	return 1;
}

bool rec_complete(const struct rec_reader *r)
{
	return r->end_seen;
}

const char *rec_error(const struct rec_reader *r)
{
	return r->err;
}

void rec_free(struct rec_reader *r)
{
	if (!r)
		return;
	if (r->mapped)
		munmap((void *)r->data, r->size);
	else
		free((void *)r->data);
	free(r);
}
