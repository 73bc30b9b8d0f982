// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "elfsym.h"
#include "symbolize.h"
#include "util.h"

#define MAX_PIDS 32768
#define MAX_FILES 1024
#define DEBUG_DIR "/usr/lib/debug/.build-id"
#define KALLSYMS "/proc/kallsyms"
#define DELETED " (deleted)"

/* One mapped ELF file, shared by every process that maps it. */
struct symfile {
	uint64_t dev, ino; /* as /proc/<pid>/maps shows them */
	struct elf_file *elf;
	struct elf_file *dbg; /* separate debuginfo, when elf has no .symtab */
	uint32_t refs; /* mappings in snapshots */
	uint64_t used; /* capture tick, for eviction */
};

struct symmap {
	uint64_t start, end, pgoff;
	struct symfile *file; /* NULL: no symbols */
	uint32_t name; /* basename, offset into symproc.names */
	bool vdso;
};

struct symproc {
	uint32_t pid;
	struct symmap *maps; /* by start */
	size_t n;
	char *names;
	struct symproc *prev, *next; /* capture order, oldest first */
};

/* A snapshot being read. */
struct capbuf {
	struct symmap *maps;
	size_t n, cap;
	char *names;
	size_t nlen, ncap;
};

struct ksym {
	uint64_t addr;
	uint32_t name; /* offset into kstr */
	uint16_t mod; /* 0: the kernel, else index + 1 into kmods */
	uint8_t rank; /* among aliases, lower names the address */
};

struct kmod {
	uint32_t name; /* offset into kstr */
	uint64_t base; /* lowest text symbol */
};

struct symbolizer {
	struct hmap procs; /* pid + 1 -> struct symproc */
	struct symproc *oldest, *newest;
	size_t nprocs;
	struct symfile **files; /* MAX_FILES slots */
	size_t nfiles;
	uint64_t tick;
	bool kloaded, krestricted;
	struct ksym *ksyms; /* by address, then rank */
	size_t nksyms, kcap;
	struct kmod *kmods;
	size_t nkmods, kmodcap;
	char *kstr;
	size_t kstrlen, kstrcap;
	uint64_t stext, etext;
};

struct symbolizer *sym_new(void)
{
	struct symbolizer *s = calloc(1, sizeof(*s));

	if (!s)
		return NULL;
	s->files = calloc(MAX_FILES, sizeof(*s->files));
	if (!s->files) {
		free(s);
		return NULL;
	}
	hmap_init(&s->procs);
	return s;
}

static void file_close(struct symfile *f)
{
	elf_file_close(f->elf);
	elf_file_close(f->dbg);
	free(f);
}

/* The mapped inode behind path, or NULL: the path may now name an upgraded file. */
static struct elf_file *open_same(const char *path, uint64_t ino)
{
	struct elf_file *ef = NULL;
	char fdpath[32];
	struct stat st;
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);

	if (fd < 0)
		return NULL;
	if (!fstat(fd, &st) && S_ISREG(st.st_mode) && (uint64_t)st.st_ino == ino) {
		/* Reopening the descriptor's magic link cannot reach another file. */
		snprintf(fdpath, sizeof(fdpath), "/proc/self/fd/%d", fd);
		ef = elf_file_open(fdpath, NULL, 0);
	}
	close(fd);
	return ef;
}

static struct elf_file *open_mapped(uint32_t pid, const char *path, uint64_t ino, bool deleted,
				    uint64_t start, uint64_t end)
{
	struct elf_file *ef = NULL;
	char *p;

	if (!deleted && asprintf(&p, "/proc/%u/root%s", pid, path) >= 0) {
		ef = open_same(p, ino);
		free(p);
	}
	/* Deleted or replaced: the mapping itself (needs CAP_SYS_ADMIN). */
	if (!ef && asprintf(&p, "/proc/%u/map_files/%" PRIx64 "-%" PRIx64, pid, start, end) >= 0) {
		ef = open_same(p, ino);
		free(p);
	}
	return ef;
}

/* DEBUG_DIR/xx/yyyy.debug of ef's build-id, when it has a .symtab and the same id. */
static struct elf_file *open_debug(const struct elf_file *ef)
{
	static const char hex[] = "0123456789abcdef";
	char path[sizeof(DEBUG_DIR) + 2 * 64 + 16], *p;
	uint8_t id[64], id2[64];
	size_t n = elf_file_build_id(ef, id, sizeof(id)), i;
	struct elf_file *dbg;

	if (n < 2 || n > sizeof(id))
		return NULL;
	p = path + snprintf(path, sizeof(path), "%s/%02x/", DEBUG_DIR, id[0]);
	for (i = 1; i < n; i++) {
		*p++ = hex[id[i] >> 4];
		*p++ = hex[id[i] & 15];
	}
	strcpy(p, ".debug");
	dbg = elf_file_open(path, NULL, 0);
	if (dbg && (!elf_file_has_symtab(dbg) || elf_file_build_id(dbg, id2, sizeof(id2)) != n ||
		    memcmp(id, id2, n))) {
		elf_file_close(dbg);
		dbg = NULL;
	}
	return dbg;
}

static struct symfile *file_open(uint32_t pid, uint64_t dev, uint64_t ino, const char *path,
				 bool deleted, uint64_t start, uint64_t end)
{
	struct elf_file *ef = open_mapped(pid, path, ino, deleted, start, end);
	struct symfile *f;

	if (!ef)
		return NULL;
	f = calloc(1, sizeof(*f));
	if (!f) {
		elf_file_close(ef);
		return NULL;
	}
	f->dev = dev;
	f->ino = ino;
	f->elf = ef;
	if (!elf_file_has_symtab(ef))
		f->dbg = open_debug(ef);
	/* A thousand files must not cost a thousand descriptors. */
	elf_file_close_fd(f->elf);
	if (f->dbg)
		elf_file_close_fd(f->dbg);
	return f;
}

/* Closes the least recently captured file no snapshot uses; false if every one is in use. */
static bool file_evict(struct symbolizer *s)
{
	size_t i, victim = s->nfiles;

	for (i = 0; i < s->nfiles; i++) {
		if (s->files[i]->refs)
			continue;
		if (victim == s->nfiles || s->files[i]->used < s->files[victim]->used)
			victim = i;
	}
	if (victim == s->nfiles)
		return false;
	file_close(s->files[victim]);
	s->files[victim] = s->files[--s->nfiles];
	return true;
}

/* A reference to the file of one mapping, opened on first sight; NULL leaves it unnamed. */
static struct symfile *file_get(struct symbolizer *s, uint32_t pid, uint64_t dev, uint64_t ino,
				const char *path, bool deleted, uint64_t start, uint64_t end)
{
	struct symfile *f = NULL;
	size_t i;

	/* Linear: at most MAX_FILES, and only at capture time. */
	for (i = 0; i < s->nfiles && !f; i++)
		if (s->files[i]->dev == dev && s->files[i]->ino == ino)
			f = s->files[i];
	if (!f) {
		if (s->nfiles == MAX_FILES && !file_evict(s))
			return NULL;
		/* Failures are not cached: the process may just have been gone for a moment. */
		f = file_open(pid, dev, ino, path, deleted, start, end);
		if (!f)
			return NULL;
		s->files[s->nfiles++] = f;
	}
	f->refs++;
	f->used = s->tick;
	return f;
}

static void maps_release(struct symmap *maps, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (maps[i].file)
			maps[i].file->refs--;
	free(maps);
}

static void capbuf_free(struct capbuf *b)
{
	maps_release(b->maps, b->n);
	free(b->names);
	memset(b, 0, sizeof(*b));
}

/* Appends m with its module name; 0 or -ENOMEM (m's file reference is then dropped). */
static int capbuf_add(struct capbuf *b, struct symmap *m, const char *name)
{
	size_t len = strlen(name) + 1;

	if (b->n == b->cap) {
		size_t cap = b->cap ? b->cap * 2 : 32;
		struct symmap *v = realloc(b->maps, cap * sizeof(*v));

		if (!v)
			goto nomem;
		b->maps = v;
		b->cap = cap;
	}
	if (b->nlen + len > b->ncap) {
		size_t cap = b->ncap ? b->ncap * 2 : 1024;
		char *v;

		while (cap < b->nlen + len)
			cap *= 2;
		v = realloc(b->names, cap);
		if (!v)
			goto nomem;
		b->names = v;
		b->ncap = cap;
	}
	memcpy(b->names + b->nlen, name, len);
	m->name = (uint32_t)b->nlen;
	b->nlen += len;
	b->maps[b->n++] = *m;
	return 0;
nomem:
	if (m->file)
		m->file->refs--;
	return -ENOMEM;
}

/* One line of /proc/<pid>/maps: executable file mappings and [vdso] are kept. */
static int parse_map(struct symbolizer *s, uint32_t pid, char *line, struct capbuf *b)
{
	unsigned long long start, end, pgoff, ino;
	size_t dlen = strlen(DELETED), plen;
	unsigned int maj, min;
	struct symmap m = { 0 };
	char perms[8], *path;
	bool deleted;
	int pos = -1;

	line[strcspn(line, "\n")] = '\0';
	if (sscanf(line, "%llx-%llx %7s %llx %x:%x %llu %n", &start, &end, perms, &pgoff, &maj,
		   &min, &ino, &pos) < 7 ||
	    pos < 0 || !strchr(perms, 'x') || start >= end)
		return 0;
	path = line + pos;
	m.start = start;
	m.end = end;
	m.pgoff = pgoff;
	if (!strcmp(path, "[vdso]")) {
		m.vdso = true;
		return capbuf_add(b, &m, path);
	}
	if (path[0] != '/')
		return 0;
	plen = strlen(path);
	deleted = plen > dlen && !strcmp(path + plen - dlen, DELETED);
	if (deleted)
		path[plen - dlen] = '\0';
	m.file = file_get(s, pid, (uint64_t)maj << 32 | min, ino, path, deleted, start, end);
	return capbuf_add(b, &m, strrchr(path, '/') + 1);
}

static int map_cmp(const void *pa, const void *pb)
{
	const struct symmap *a = pa, *b = pb;

	return a->start < b->start ? -1 : a->start > b->start;
}

static void proc_unlink(struct symbolizer *s, struct symproc *p)
{
	if (p->prev)
		p->prev->next = p->next;
	else
		s->oldest = p->next;
	if (p->next)
		p->next->prev = p->prev;
	else
		s->newest = p->prev;
	p->prev = p->next = NULL;
}

static void proc_append(struct symbolizer *s, struct symproc *p)
{
	p->prev = s->newest;
	if (s->newest)
		s->newest->next = p;
	else
		s->oldest = p;
	s->newest = p;
}

static void proc_drop(struct symbolizer *s, struct symproc *p)
{
	hmap_del(&s->procs, (uint64_t)p->pid + 1);
	proc_unlink(s, p);
	s->nprocs--;
	maps_release(p->maps, p->n);
	free(p->names);
	free(p);
}

/* Makes b the snapshot of pid (b is emptied); 0 or -ENOMEM. */
static int proc_install(struct symbolizer *s, uint32_t pid, struct capbuf *b)
{
	struct symproc *p = hmap_get(&s->procs, (uint64_t)pid + 1);

	/* A zombie has no maps left: what was captured before is still right. */
	if (!b->n && p) {
		capbuf_free(b);
		return 0;
	}
	if (p) {
		maps_release(p->maps, p->n);
		free(p->names);
		proc_unlink(s, p);
	} else {
		if (s->nprocs >= MAX_PIDS)
			proc_drop(s, s->oldest);
		p = calloc(1, sizeof(*p));
		if (!p || hmap_put(&s->procs, (uint64_t)pid + 1, p)) {
			free(p);
			return -ENOMEM;
		}
		p->pid = pid;
		s->nprocs++;
	}
	if (b->n) /* a process with no executable mapping (a zombie, a kthread) */
		qsort(b->maps, b->n, sizeof(*b->maps), map_cmp);
	p->maps = b->maps;
	p->n = b->n;
	p->names = b->names;
	proc_append(s, p);
	memset(b, 0, sizeof(*b));
	return 0;
}

int sym_capture(struct symbolizer *s, uint32_t pid)
{
	struct capbuf b = { 0 };
	char path[32], *line = NULL;
	size_t lcap = 0;
	int ret = 0;
	FILE *fp;

	snprintf(path, sizeof(path), "/proc/%u/maps", pid);
	fp = fopen(path, "re");
	if (!fp)
		return errno == ENOENT ? -ESRCH : -errno;
	s->tick++;
	while (!ret && getline(&line, &lcap, fp) > 0)
		ret = parse_map(s, pid, line, &b);
	if (!ret && ferror(fp))
		ret = errno ? -errno : -EIO;
	free(line);
	fclose(fp);
	if (!ret)
		ret = proc_install(s, pid, &b);
	if (ret)
		capbuf_free(&b);
	return ret;
}

bool sym_captured(const struct symbolizer *s, uint32_t pid)
{
	return hmap_get(&s->procs, (uint64_t)pid + 1) != NULL;
}

void sym_forget(struct symbolizer *s, uint32_t pid)
{
	struct symproc *p = hmap_get(&s->procs, (uint64_t)pid + 1);

	if (p)
		proc_drop(s, p);
}

size_t sym_nfiles(const struct symbolizer *s)
{
	return s->nfiles;
}

static const struct symmap *find_map(const struct symproc *p, uint64_t ip)
{
	size_t lo = 0, hi = p->n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (p->maps[mid].start <= ip)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (!lo || ip >= p->maps[lo - 1].end)
		return NULL;
	return &p->maps[lo - 1];
}

/* The function at file offset off; debuginfo's .symtab first, then the file's own tables. */
static bool file_sym(struct symfile *f, uint64_t off, char *buf, size_t len)
{
	uint64_t vaddr;

	/* The debuginfo's segments have no file bytes: only the original maps offsets. */
	if (!f || elf_file_off_vaddr(f->elf, off, &vaddr))
		return false;
	if (f->dbg && !elf_file_addr_sym(f->dbg, vaddr, buf, len, NULL, NULL))
		return true;
	return !elf_file_addr_sym(f->elf, vaddr, buf, len, NULL, NULL);
}

int sym_user(struct symbolizer *s, uint32_t pid, uint64_t ip, char *buf, size_t len,
	     struct sym_info *info)
{
	const struct symproc *p = hmap_get(&s->procs, (uint64_t)pid + 1);
	const struct symmap *m = p ? find_map(p, ip) : NULL;
	struct sym_info tmp;

	if (!info)
		info = &tmp;
	memset(info, 0, sizeof(*info));
	if (!m) {
		snprintf(buf, len, "[unknown]");
		return 1;
	}
	info->module = p->names + m->name;
	info->mapped = true;
	info->off = ip - m->start + (m->vdso ? 0 : m->pgoff);
	if (!m->vdso && file_sym(m->file, info->off, buf, len)) {
		info->named = true;
		return 0;
	}
	snprintf(buf, len, "[%s+0x%" PRIx64 "]", m->vdso ? "vdso" : info->module, info->off);
	return 1;
}

/* Copies n bytes of str (and a NUL) into kstr; 0 or -ENOMEM. */
static int kstr_add(struct symbolizer *s, const char *str, size_t n, uint32_t *off)
{
	if (s->kstrlen + n + 1 > UINT32_MAX)
		return -ENOMEM;
	if (s->kstrlen + n + 1 > s->kstrcap) {
		size_t cap = s->kstrcap ? s->kstrcap * 2 : 1 << 20;
		char *v = realloc(s->kstr, cap);

		if (!v)
			return -ENOMEM;
		s->kstr = v;
		s->kstrcap = cap;
	}
	memcpy(s->kstr + s->kstrlen, str, n);
	s->kstr[s->kstrlen + n] = '\0';
	*off = (uint32_t)s->kstrlen;
	s->kstrlen += n + 1;
	return 0;
}

/* The kmods index + 1 of module name, added on first sight; 0 when out of room. */
static uint16_t kmod_of(struct symbolizer *s, const char *name)
{
	size_t i;

	/* Backwards: a module's symbols are listed together. */
	for (i = s->nkmods; i-- > 0;)
		if (!strcmp(s->kstr + s->kmods[i].name, name))
			return (uint16_t)(i + 1);
	if (s->nkmods >= UINT16_MAX - 1)
		return 0;
	if (s->nkmods == s->kmodcap) {
		size_t cap = s->kmodcap ? s->kmodcap * 2 : 64;
		struct kmod *v = realloc(s->kmods, cap * sizeof(*v));

		if (!v)
			return 0;
		s->kmods = v;
		s->kmodcap = cap;
	}
	if (kstr_add(s, name, strlen(name), &s->kmods[s->nkmods].name))
		return 0;
	s->kmods[s->nkmods].base = UINT64_MAX;
	return (uint16_t)++s->nkmods;
}

/* Fewer leading underscores first, then global (T, W) before local. */
static uint8_t ksym_rank(const char *name, char type)
{
	size_t us = strspn(name, "_");

	return (uint8_t)((us > 60 ? 60 : us) * 2 + (type == 't' || type == 'w'));
}

/* One line, "addr type name[\t[mod]]"; only text symbols are kept. */
static int kparse(struct symbolizer *s, char *line, bool *nonzero)
{
	struct ksym k = { 0 };
	char *end, *name, *mod = NULL;
	size_t nlen;

	k.addr = strtoull(line, &end, 16);
	if (end == line || end[0] != ' ' || !end[1] || end[2] != ' ' || !strchr("tTwW", end[1]))
		return 0;
	name = end + 3;
	nlen = strcspn(name, " \t\n");
	if (!nlen)
		return 0;
	if (name[nlen] && name[nlen] != '\n')
		mod = strchr(name + nlen + 1, '[');
	if (mod) {
		mod++;
		mod[strcspn(mod, "]")] = '\0';
		k.mod = kmod_of(s, mod);
		if (!k.mod)
			return -ENOMEM;
	}
	name[nlen] = '\0';
	k.rank = ksym_rank(name, end[1]);
	if (s->nksyms == s->kcap) {
		size_t cap = s->kcap ? s->kcap * 2 : 1 << 16;
		struct ksym *v = realloc(s->ksyms, cap * sizeof(*v));

		if (!v)
			return -ENOMEM;
		s->ksyms = v;
		s->kcap = cap;
	}
	if (kstr_add(s, name, nlen, &k.name))
		return -ENOMEM;
	if (!k.mod && !strcmp(name, "_stext"))
		s->stext = k.addr;
	if (!k.mod && !strcmp(name, "_etext"))
		s->etext = k.addr;
	*nonzero |= k.addr != 0;
	s->ksyms[s->nksyms++] = k;
	return 0;
}

static int ksym_cmp(const void *pa, const void *pb)
{
	const struct ksym *a = pa, *b = pb;

	if (a->addr != b->addr)
		return a->addr < b->addr ? -1 : 1;
	if (a->rank != b->rank)
		return a->rank < b->rank ? -1 : 1;
	/* Names are stored in file order: a stable sort. */
	return a->name < b->name ? -1 : a->name > b->name;
}

static void kallsyms_load(struct symbolizer *s)
{
	bool nonzero = false;
	char *line = NULL;
	size_t lcap = 0, i;
	int ret = 0;
	FILE *fp;

	s->kloaded = true;
	fp = fopen(KALLSYMS, "re");
	if (!fp)
		return;
	while (!ret && getline(&line, &lcap, fp) > 0)
		ret = kparse(s, line, &nonzero);
	free(line);
	fclose(fp);
	if (ret) {
		/* Half a table would misname: none at all. */
		s->nksyms = 0;
		return;
	}
	s->krestricted = !nonzero;
	/* No text symbols at all (ksyms still NULL): qsort must not see a NULL base. */
	if (s->nksyms)
		qsort(s->ksyms, s->nksyms, sizeof(*s->ksyms), ksym_cmp);
	for (i = 0; i < s->nksyms; i++) {
		struct kmod *m = s->ksyms[i].mod ? &s->kmods[s->ksyms[i].mod - 1] : NULL;

		if (m && s->ksyms[i].addr < m->base)
			m->base = s->ksyms[i].addr;
	}
}

/* "[mod+0x..]" after module k's symbols, "[kernel+0x..]" from _stext, or "[kernel]". */
static int kernel_unknown(const struct symbolizer *s, const struct ksym *k, uint64_t ip, char *buf,
			  size_t len, struct sym_info *info)
{
	if (k && k->mod) {
		const struct kmod *m = &s->kmods[k->mod - 1];

		info->module = s->kstr + m->name;
		info->off = ip - m->base;
		info->mapped = true;
		snprintf(buf, len, "[%s+0x%" PRIx64 "]", info->module, info->off);
	} else if (s->stext && ip >= s->stext) {
		info->off = ip - s->stext;
		snprintf(buf, len, "[kernel+0x%" PRIx64 "]", info->off);
	} else {
		snprintf(buf, len, "[kernel]");
	}
	return 1;
}

int sym_kernel(struct symbolizer *s, uint64_t ip, char *buf, size_t len, struct sym_info *info)
{
	size_t lo = 0, hi, i;
	struct sym_info tmp;
	const struct ksym *k;

	if (!info)
		info = &tmp;
	memset(info, 0, sizeof(*info));
	info->module = "[kernel]";
	if (!s->kloaded)
		kallsyms_load(s);
	if (!s->nksyms || s->krestricted)
		return kernel_unknown(s, NULL, ip, buf, len, info);
	hi = s->nksyms;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (s->ksyms[mid].addr <= ip)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (!lo)
		return kernel_unknown(s, NULL, ip, buf, len, info);
	/* The first of the aliases at that address has the best rank. */
	for (i = lo - 1; i && s->ksyms[i - 1].addr == s->ksyms[i].addr; i--)
		;
	k = &s->ksyms[i];
	/* No sizes in kallsyms: past the last symbol, or past the kernel's text, is unknown. */
	if ((lo == s->nksyms && ip > k->addr) ||
	    (!k->mod && s->etext && k->addr <= s->etext && ip >= s->etext))
		return kernel_unknown(s, k, ip, buf, len, info);
	info->named = info->mapped = true;
	if (k->mod) {
		info->module = s->kstr + s->kmods[k->mod - 1].name;
		info->off = ip - s->kmods[k->mod - 1].base;
	} else {
		info->off = ip >= s->stext ? ip - s->stext : 0;
	}
	snprintf(buf, len, "%s", s->kstr + k->name);
	return 0;
}

void sym_free(struct symbolizer *s)
{
	size_t i;

	if (!s)
		return;
	while (s->oldest)
		proc_drop(s, s->oldest);
	hmap_free(&s->procs);
	for (i = 0; i < s->nfiles; i++)
		file_close(s->files[i]);
	free(s->files);
	free(s->ksyms);
	free(s->kmods);
	free(s->kstr);
	free(s);
}
