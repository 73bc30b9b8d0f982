// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
#include <errno.h>
#include <fcntl.h>
#include <gelf.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "elfsym.h"
#include "util.h"

#if defined(__x86_64__)
#define HOST_MACHINE EM_X86_64
#define HOST_MACHINE_NAME "x86-64"
#elif defined(__aarch64__)
#define HOST_MACHINE EM_AARCH64
#define HOST_MACHINE_NAME "AArch64"
#else
#error "spiketrace supports x86-64 and arm64 only"
#endif

#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
#define HOST_DATA ELFDATA2LSB
#else
#define HOST_DATA ELFDATA2MSB
#endif

/* In .gnu.version: the symbol is not its name's default version (name@VER). */
#define VERSYM_HIDDEN 0x8000
#define VERSYM_INDEX 0x7fff

struct esym {
	const char *name; /* in libelf's string data: valid until elf_end() */
	const char *ver; /* version name, or NULL when unversioned */
	uint64_t value;
	uint64_t size;
	uint32_t klen; /* the key: name up to its '@', if any */
	uint32_t order; /* table then index, for deterministic ties */
	uint8_t type;
	uint8_t bind;
	bool dyn; /* from .dynsym */
	bool hidden; /* a non-default version (name@VER) */
	uint16_t shndx; /* defining section, for size-0 functions' bound */
};

/* A function in address order; end is value + size, or its section's end for size 0. */
struct aent {
	uint64_t value;
	uint64_t end;
	uint64_t pmax; /* the largest end of sized functions up to here: stops the backward walk */
	uint32_t sym; /* index into syms */
};

struct elf_file {
	int fd;
	Elf *elf;
	uint16_t type;
	uint64_t fsize;
	GElf_Phdr *load; /* PT_LOAD headers */
	size_t nload;
	struct esym *syms; /* sorted by key */
	size_t nsyms;
	size_t cap;
	size_t nsymtab_funcs; /* functions found in .symtab */
	uint8_t build_id[64];
	size_t build_id_len;
	struct aent *addr; /* functions by address, built on the first address lookup */
	size_t naddr;
	bool addr_built;
};

struct vername {
	uint16_t ndx;
	const char *name;
};

static void set_err(char *err, size_t errlen, const char *fmt, const char *arg)
{
	if (err && errlen)
		snprintf(err, errlen, fmt, arg);
}

static int load_phdrs(struct elf_file *f)
{
	size_t i, n;

	if (elf_getphdrnum(f->elf, &n))
		return -EINVAL;
	f->load = calloc(n ? n : 1, sizeof(*f->load));
	if (!f->load)
		return -ENOMEM;
	for (i = 0; i < n; i++) {
		GElf_Phdr ph;

		if (!gelf_getphdr(f->elf, (int)i, &ph))
			return -EINVAL;
		if (ph.p_type == PT_LOAD)
			f->load[f->nload++] = ph;
	}
	return 0;
}

/* Version index -> name, from .gnu.version_d (versions this file defines). */
static int load_verdefs(Elf *elf, Elf_Scn *scn, struct vername **out, size_t *nout)
{
	Elf_Data *d = elf_getdata(scn, NULL);
	struct vername *v;
	GElf_Shdr sh;
	size_t i, n = 0, off = 0, cap;

	*out = NULL;
	*nout = 0;
	if (!d || !gelf_getshdr(scn, &sh))
		return 0;
	/*
	 * sh_info is the number of entries, but it is the file's word: a
	 * corrupt one asked for 64 GiB. No more entries than fit in the data.
	 */
	cap = d->d_size / sizeof(GElf_Verdef);
	if (cap > sh.sh_info)
		cap = sh.sh_info;
	v = calloc(cap ? cap : 1, sizeof(*v));
	if (!v)
		return -ENOMEM;
	for (i = 0; i < cap && off < d->d_size; i++) {
		GElf_Verdef vd;
		GElf_Verdaux va;

		if (!gelf_getverdef(d, (int)off, &vd))
			break;
		/* The first aux entry names the version; the others its parents. */
		if (vd.vd_cnt && gelf_getverdaux(d, (int)(off + vd.vd_aux), &va)) {
			const char *s = elf_strptr(elf, sh.sh_link, va.vda_name);

			/* The base version is the file's soname: not a symbol version. */
			if (s && !(vd.vd_flags & VER_FLG_BASE)) {
				v[n].ndx = vd.vd_ndx;
				v[n].name = s;
				n++;
			}
		}
		if (!vd.vd_next)
			break;
		off += vd.vd_next;
	}
	*out = v;
	*nout = n;
	return 0;
}

static const char *vername_of(const struct vername *v, size_t n, uint16_t ndx)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (v[i].ndx == ndx)
			return v[i].name;
	return NULL;
}

static int push_sym(struct elf_file *f, const struct esym *s)
{
	if (f->nsyms == f->cap) {
		size_t cap = f->cap ? f->cap * 2 : 1024;
		struct esym *n = realloc(f->syms, cap * sizeof(*n));

		if (!n)
			return -ENOMEM;
		f->syms = n;
		f->cap = cap;
	}
	f->syms[f->nsyms++] = *s;
	return 0;
}

/*
 * Adds the defined, named symbols of one table. Versions come from the name
 * in .symtab ("foo@@V" as the assembler's .symver leaves it) and from
 * .gnu.version + .gnu.version_d in .dynsym, whose names are bare.
 */
static int index_table(struct elf_file *f, Elf_Scn *scn, const GElf_Shdr *sh, Elf_Data *versym,
		       const struct vername *vn, size_t nvn, uint32_t table)
{
	Elf_Data *d = elf_getdata(scn, NULL);
	size_t i, n;
	int ret;

	if (!d || !sh->sh_entsize)
		return 0;
	n = sh->sh_size / sh->sh_entsize;
	for (i = 1; i < n; i++) {
		struct esym s = { 0 };
		GElf_Sym sym;
		const char *at;
		int type;

		if (!gelf_getsym(d, (int)i, &sym))
			break;
		type = GELF_ST_TYPE(sym.st_info);
		if (sym.st_shndx == SHN_UNDEF || type == STT_SECTION || type == STT_FILE)
			continue;
		s.name = elf_strptr(f->elf, sh->sh_link, sym.st_name);
		if (!s.name || !s.name[0])
			continue;
		at = strchr(s.name, '@');
		s.klen = (uint32_t)(at ? (size_t)(at - s.name) : strlen(s.name));
		if (at) {
			s.hidden = at[1] != '@';
			s.ver = at + (s.hidden ? 1 : 2);
		}
		if (versym && sh->sh_type == SHT_DYNSYM) {
			GElf_Versym vs;

			if (gelf_getversym(versym, (int)i, &vs)) {
				s.ver = vername_of(vn, nvn, vs & VERSYM_INDEX);
				s.hidden = s.ver && (vs & VERSYM_HIDDEN);
			}
		}
		s.value = sym.st_value;
		s.size = sym.st_size;
		s.type = (uint8_t)type;
		s.bind = (uint8_t)GELF_ST_BIND(sym.st_info);
		s.dyn = sh->sh_type == SHT_DYNSYM;
		s.shndx = sym.st_shndx;
		if (!s.dyn && (type == STT_FUNC || type == STT_GNU_IFUNC))
			f->nsymtab_funcs++;
		s.order = (table << 31) | (uint32_t)(i & 0x7fffffff);
		ret = push_sym(f, &s);
		if (ret)
			return ret;
	}
	return 0;
}

static int key_cmp(const char *a, size_t alen, const char *b, size_t blen)
{
	int c = memcmp(a, b, alen < blen ? alen : blen);

	if (c)
		return c;
	return alen < blen ? -1 : alen > blen;
}

static int esym_cmp(const void *pa, const void *pb)
{
	const struct esym *a = pa, *b = pb;
	int c = key_cmp(a->name, a->klen, b->name, b->klen);

	if (c)
		return c;
	return a->order < b->order ? -1 : a->order > b->order;
}

/* The NT_GNU_BUILD_ID note of one SHT_NOTE section, if it has one. */
static void read_build_id(struct elf_file *f, Elf_Scn *scn)
{
	Elf_Data *d = elf_getdata(scn, NULL);
	size_t off = 0, next, name_off, desc_off;
	GElf_Nhdr nh;

	if (!d || !d->d_buf)
		return;
	while ((next = gelf_getnote(d, off, &nh, &name_off, &desc_off)) > 0) {
		const char *nm = (const char *)d->d_buf + name_off;

		if (nh.n_type == NT_GNU_BUILD_ID && nh.n_namesz == 4 && !memcmp(nm, "GNU", 4) &&
		    nh.n_descsz && nh.n_descsz <= sizeof(f->build_id)) {
			memcpy(f->build_id, (const char *)d->d_buf + desc_off, nh.n_descsz);
			f->build_id_len = nh.n_descsz;
			return;
		}
		off = next;
	}
}

static int build_index(struct elf_file *f)
{
	Elf_Scn *scn = NULL, *symtab = NULL, *dynsym = NULL, *versym = NULL, *verdef = NULL;
	GElf_Shdr st_sh = { 0 }, dyn_sh = { 0 };
	struct vername *vn = NULL;
	size_t nvn = 0;
	int ret = 0;

	while ((scn = elf_nextscn(f->elf, scn))) {
		GElf_Shdr sh;

		if (!gelf_getshdr(scn, &sh))
			return -EINVAL;
		if (sh.sh_type == SHT_SYMTAB && !symtab) {
			symtab = scn;
			st_sh = sh;
		} else if (sh.sh_type == SHT_DYNSYM && !dynsym) {
			dynsym = scn;
			dyn_sh = sh;
		} else if (sh.sh_type == SHT_GNU_versym) {
			versym = scn;
		} else if (sh.sh_type == SHT_GNU_verdef) {
			verdef = scn;
		} else if (sh.sh_type == SHT_NOTE && !f->build_id_len) {
			read_build_id(f, scn);
		}
	}
	if (symtab)
		ret = index_table(f, symtab, &st_sh, NULL, NULL, 0, 0);
	if (!ret && dynsym) {
		if (verdef)
			ret = load_verdefs(f->elf, verdef, &vn, &nvn);
		if (!ret)
			ret = index_table(f, dynsym, &dyn_sh,
					  versym ? elf_getdata(versym, NULL) : NULL, vn, nvn, 1);
	}
	free(vn);
	if (!ret && f->nsyms)
		qsort(f->syms, f->nsyms, sizeof(*f->syms), esym_cmp);
	return ret;
}

struct elf_file *elf_file_open(const char *path, char *err, size_t errlen)
{
	struct elf_file *f;
	struct stat st;
	GElf_Ehdr eh;
	int ret;

	if (elf_version(EV_CURRENT) == EV_NONE) {
		set_err(err, errlen, "libelf: %s", elf_errmsg(-1));
		return NULL;
	}
	f = calloc(1, sizeof(*f));
	if (!f) {
		set_err(err, errlen, "%s", strerror(ENOMEM));
		return NULL;
	}
	f->fd = open(path, O_RDONLY | O_CLOEXEC);
	if (f->fd < 0 || fstat(f->fd, &st)) {
		set_err(err, errlen, "%s", strerror(errno));
		goto fail;
	}
	if (!S_ISREG(st.st_mode)) {
		set_err(err, errlen, "%s", "not a regular file");
		goto fail;
	}
	f->fsize = (uint64_t)st.st_size;
	f->elf = elf_begin(f->fd, ELF_C_READ_MMAP, NULL);
	if (!f->elf || elf_kind(f->elf) != ELF_K_ELF || !gelf_getehdr(f->elf, &eh)) {
		set_err(err, errlen, "%s", "not an ELF file");
		goto fail;
	}
	if (eh.e_ident[EI_CLASS] != ELFCLASS64 || eh.e_ident[EI_DATA] != HOST_DATA) {
		set_err(err, errlen, "%s", "not a 64-bit ELF file of this machine's byte order");
		goto fail;
	}
	if (eh.e_machine != HOST_MACHINE) {
		set_err(err, errlen, "%s",
			"ELF file for another machine (not " HOST_MACHINE_NAME ")");
		goto fail;
	}
	if (eh.e_type != ET_EXEC && eh.e_type != ET_DYN) {
		set_err(err, errlen, "%s", "not an executable or shared library");
		goto fail;
	}
	f->type = eh.e_type;
	ret = load_phdrs(f);
	if (!ret)
		ret = build_index(f);
	if (ret) {
		set_err(err, errlen, "%s",
			ret == -ENOMEM ? strerror(ENOMEM) : "malformed ELF headers or symbols");
		goto fail;
	}
	return f;
fail:
	elf_file_close(f);
	return NULL;
}

void elf_file_close(struct elf_file *f)
{
	if (!f)
		return;
	if (f->elf)
		elf_end(f->elf);
	if (f->fd >= 0)
		close(f->fd);
	free(f->load);
	free(f->syms);
	free(f->addr);
	free(f);
}

/* Lower is better: .symtab, default version, global, then first in the table. */
static bool better(const struct esym *a, const struct esym *b)
{
	int ra = a->bind == STB_GLOBAL ? 0 : a->bind == STB_WEAK ? 1 : 2;
	int rb = b->bind == STB_GLOBAL ? 0 : b->bind == STB_WEAK ? 1 : 2;

	if (a->dyn != b->dyn)
		return !a->dyn;
	if (a->hidden != b->hidden)
		return !a->hidden;
	if (ra != rb)
		return ra < rb;
	return a->order < b->order;
}

static const struct esym *find_func(const struct elf_file *f, const char *name)
{
	const char *at = strchr(name, '@'), *ver = NULL;
	size_t klen = at ? (size_t)(at - name) : strlen(name), lo = 0, hi = f->nsyms, i;
	const struct esym *best = NULL;

	if (at)
		ver = at + (at[1] == '@' ? 2 : 1);
	/* First entry whose key is >= name. */
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (key_cmp(f->syms[mid].name, f->syms[mid].klen, name, klen) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	for (i = lo; i < f->nsyms; i++) {
		const struct esym *s = &f->syms[i];

		if (key_cmp(s->name, s->klen, name, klen))
			break;
		/* An object of the same name does not hide the function. */
		if (s->type != STT_FUNC && s->type != STT_GNU_IFUNC)
			continue;
		/* As libbpf: "name@V" and "name@@V" both ask for version V. */
		if (ver && (!s->ver || strcmp(s->ver, ver)))
			continue;
		if (!best || better(s, best))
			best = s;
	}
	return best;
}

int elf_file_sym(struct elf_file *f, const char *name, uint64_t *off, uint64_t *size)
{
	const struct esym *s = find_func(f, name);
	size_t i;

	if (!s)
		return -ENOENT;
	if (s->type == STT_GNU_IFUNC)
		return -ENOTSUP;
	/* Symbol values are addresses; the segment that loads one gives its file offset. */
	for (i = 0; i < f->nload; i++) {
		const GElf_Phdr *ph = &f->load[i];

		if (s->value < ph->p_vaddr || s->value - ph->p_vaddr >= ph->p_filesz)
			continue;
		if (off)
			*off = s->value - ph->p_vaddr + ph->p_offset;
		if (size)
			*size = s->size;
		return 0;
	}
	return -ENOENT;
}

ssize_t elf_file_read(struct elf_file *f, uint64_t off, void *buf, size_t n)
{
	size_t done = 0;

	if (off >= f->fsize)
		return 0;
	if (n > f->fsize - off)
		n = (size_t)(f->fsize - off);
	while (done < n) {
		ssize_t r = pread(f->fd, (char *)buf + done, n - done, (off_t)(off + done));

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return -errno;
		if (r == 0)
			break;
		done += (size_t)r;
	}
	return (ssize_t)done;
}

bool elf_file_is_exec(const struct elf_file *f)
{
	return f->type == ET_EXEC;
}

size_t elf_file_nsyms(const struct elf_file *f)
{
	return f->nsyms;
}

size_t elf_file_build_id(const struct elf_file *f, uint8_t *id, size_t len)
{
	if (id && len)
		memcpy(id, f->build_id, f->build_id_len < len ? f->build_id_len : len);
	return f->build_id_len;
}

bool elf_file_has_symtab(const struct elf_file *f)
{
	return f->nsymtab_funcs > 0;
}

int elf_file_off_vaddr(const struct elf_file *f, uint64_t off, uint64_t *vaddr)
{
	const GElf_Phdr *hit = NULL;
	size_t i;

	for (i = 0; i < f->nload; i++) {
		const GElf_Phdr *ph = &f->load[i];

		if (off < ph->p_offset || off - ph->p_offset >= ph->p_filesz)
			continue;
		/* Segments may share a page in memory; if they overlap in the file, code wins. */
		if (!hit || (!(hit->p_flags & PF_X) && (ph->p_flags & PF_X)))
			hit = ph;
	}
	if (!hit)
		return -ENOENT;
	*vaddr = hit->p_vaddr + (off - hit->p_offset);
	return 0;
}

void elf_file_close_fd(struct elf_file *f)
{
	if (f->fd < 0)
		return;
	/* libelf first reads whatever it has not mmap'ed, then never uses the descriptor. */
	if (elf_cntl(f->elf, ELF_C_FDREAD))
		return;
	close(f->fd);
	f->fd = -1;
}

static bool is_func(const struct esym *s)
{
	return (s->type == STT_FUNC || s->type == STT_GNU_IFUNC) && s->value;
}

/*
 * A size-0 function (an assembler label without .size) can only reach the
 * end of its section: past it lie other sections (.plt after .init) that
 * have no symbols of their own. value + 1 (the exact address) without one.
 */
static uint64_t section_end(const struct elf_file *f, const struct esym *s)
{
	Elf_Scn *scn;
	GElf_Shdr sh;

	if (s->shndx == SHN_UNDEF || s->shndx >= SHN_LORESERVE)
		return s->value + 1;
	scn = elf_getscn(f->elf, s->shndx);
	if (!scn || !gelf_getshdr(scn, &sh) || !(sh.sh_flags & SHF_EXECINSTR))
		return s->value + 1;
	if (s->value < sh.sh_addr || s->value - sh.sh_addr >= sh.sh_size)
		return s->value + 1;
	return sh.sh_addr + sh.sh_size;
}

static int aent_cmp(const void *pa, const void *pb)
{
	const struct aent *a = pa, *b = pb;

	if (a->value != b->value)
		return a->value < b->value ? -1 : 1;
	return a->sym < b->sym ? -1 : a->sym > b->sym;
}

static int build_addr_index(struct elf_file *f)
{
	uint64_t pmax = 0;
	size_t i, n = 0;

	for (i = 0; i < f->nsyms; i++)
		n += is_func(&f->syms[i]);
	f->addr = calloc(n ? n : 1, sizeof(*f->addr));
	if (!f->addr)
		return -ENOMEM;
	for (i = 0; i < f->nsyms; i++) {
		const struct esym *s = &f->syms[i];
		struct aent *a = &f->addr[f->naddr];

		if (!is_func(s))
			continue;
		a->value = s->value;
		if (!s->size)
			a->end = section_end(f, s);
		else
			a->end = s->value + s->size < s->value ? UINT64_MAX : s->value + s->size;
		a->sym = (uint32_t)i;
		f->naddr++;
	}
	qsort(f->addr, f->naddr, sizeof(*f->addr), aent_cmp);
	for (i = 0; i < f->naddr; i++) {
		struct aent *a = &f->addr[i];

		if (f->syms[a->sym].size && a->end > pmax)
			pmax = a->end;
		a->pmax = pmax;
	}
	f->addr_built = true;
	return 0;
}

static size_t leading_underscores(const struct esym *s)
{
	size_t n = 0;

	while (n < s->klen && s->name[n] == '_')
		n++;
	return n;
}

static int bind_rank(uint8_t bind)
{
	return bind == STB_GLOBAL ? 0 : bind == STB_WEAK ? 1 : 2;
}

/*
 * Of two functions that both contain an address: a sized one (size 0 only
 * when nothing sized does), .symtab over .dynsym, the innermost, then the
 * tidiest alias ("getpid" over "__getpid" over "__GI___getpid").
 */
static bool addr_better(const struct elf_file *f, const struct aent *a, const struct aent *b)
{
	const struct esym *x = &f->syms[a->sym], *y = &f->syms[b->sym];
	size_t ux = leading_underscores(x), uy = leading_underscores(y);

	if (!x->size != !y->size)
		return x->size != 0;
	if (x->dyn != y->dyn)
		return !x->dyn;
	if (a->value != b->value)
		return a->value > b->value;
	if (ux != uy)
		return ux < uy;
	if (bind_rank(x->bind) != bind_rank(y->bind))
		return bind_rank(x->bind) < bind_rank(y->bind);
	if (x->hidden != y->hidden)
		return !x->hidden;
	return x->order < y->order;
}

/* Bounds the backward walk over nested or overlapping functions. */
#define ADDR_WALK_MAX 4096

int elf_file_addr_sym(struct elf_file *f, uint64_t vaddr, char *name, size_t len, uint64_t *start,
		      uint64_t *size)
{
	const struct aent *best = NULL;
	size_t lo = 0, hi, i, steps = 0;
	const struct esym *s;
	uint64_t top;

	if (!f->addr_built && build_addr_index(f))
		return -ENOMEM;
	hi = f->naddr;
	/* lo: the first function that starts after vaddr. */
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (f->addr[mid].value <= vaddr)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (!lo)
		return -ENOENT;
	top = f->addr[lo - 1].value;
	for (i = lo; i-- > 0 && steps++ < ADDR_WALK_MAX;) {
		const struct aent *a = &f->addr[i];
		bool sized = f->syms[a->sym].size != 0;

		/* Nothing sized from here down reaches vaddr, and size 0 only counts at top. */
		if (a->value != top && a->pmax <= vaddr)
			break;
		if (vaddr >= a->end || (!sized && a->value != top))
			continue;
		if (!best || addr_better(f, a, best))
			best = a;
	}
	if (!best)
		return -ENOENT;
	s = &f->syms[best->sym];
	if (name && len) {
		size_t n = s->klen < len - 1 ? s->klen : len - 1;

		memcpy(name, s->name, n);
		name[n] = '\0';
	}
	if (start)
		*start = s->value;
	if (size)
		*size = s->size;
	return 0;
}

#if defined(__x86_64__)
/* An instruction's bytes; a set bit in any marks a byte that may hold anything. */
struct x86_pat {
	uint8_t len;
	uint8_t b[9];
	uint16_t any;
};

static bool pat_at(const uint8_t *code, size_t n, size_t i, const struct x86_pat *p)
{
	size_t k;

	if (i > n || n - i < p->len)
		return false;
	for (k = 0; k < p->len; k++)
		if (!(p->any & 1u << k) && code[i + k] != p->b[k])
			return false;
	return true;
}

static size_t skip_endbr64(const uint8_t *code, size_t n)
{
	static const struct x86_pat endbr64 = { 4, { 0xf3, 0x0f, 0x1e, 0xfa } };

	return pat_at(code, n, 0, &endbr64) ? endbr64.len : 0;
}

int x86_field_accessor(const uint8_t *code, size_t n, uint32_t *disp)
{
	size_t i = skip_endbr64(code, n);
	uint32_t d;

	/* mov r/m32,%eax: opcode 8b, ModRM mod=00/01/10, reg=eax, rm=rdi. */
	if (n - i < 2 || code[i] != 0x8b)
		return -EINVAL;
	switch (code[i + 1]) {
	case 0x07: /* (%rdi) */
		d = 0;
		i += 2;
		break;
	case 0x47: /* disp8(%rdi), sign-extended */
		if (n - i < 3 || (code[i + 2] & 0x80))
			return -EINVAL;
		d = code[i + 2];
		i += 3;
		break;
	case 0x87: /* disp32(%rdi), little-endian */
		if (n - i < 6 || (code[i + 5] & 0x80))
			return -EINVAL;
		d = (uint32_t)code[i + 2] | (uint32_t)code[i + 3] << 8 |
		    (uint32_t)code[i + 4] << 16 | (uint32_t)code[i + 5] << 24;
		i += 6;
		break;
	default:
		return -EINVAL;
	}
	/* xor %edi,%edi: compilers' call-used register zeroing, harmless. */
	if (n - i >= 2 && code[i] == 0x31 && code[i + 1] == 0xff)
		i += 2;
	if (n - i < 1 || code[i] != 0xc3)
		return -EINVAL;
	*disp = d;
	return 0;
}

static bool push_at(const uint8_t *code, size_t n, size_t i)
{
	if (i < n && code[i] >= 0x50 && code[i] <= 0x57)
		return true; /* push %rax..%rdi */
	return n - i >= 2 && code[i] == 0x41 && code[i + 1] >= 0x50 && code[i + 1] <= 0x57;
}

int x86_past_null_check(const uint8_t *code, size_t n, uint32_t *off)
{
	static const struct x86_pat test_rdi = { 3, { 0x48, 0x85, 0xff } };
	static const struct x86_pat je8 = { 2, { 0x74 }, 0x2 };
	static const struct x86_pat je32 = { 6, { 0x0f, 0x84 }, 0x3c };
	size_t i = skip_endbr64(code, n);

	if (!pat_at(code, n, i, &test_rdi))
		return -EINVAL;
	i += test_rdi.len;
	if (pat_at(code, n, i, &je8))
		i += je8.len;
	else if (pat_at(code, n, i, &je32))
		i += je32.len;
	else
		return -EINVAL;
	if (!push_at(code, n, i))
		return -EINVAL;
	*off = (uint32_t)i;
	return 0;
}

/* A stack frame's set-up, each optional, in this order: none writes an argument register. */
static size_t skip_frame(const uint8_t *code, size_t n, size_t i)
{
	static const struct x86_pat frame[] = {
		{ 4, { 0x48, 0x83, 0xec }, 0x8 }, /* sub $imm8,%rsp */
		{ 9, { 0x64, 0x48, 0x8b, 0x04, 0x25, 0x28, 0, 0, 0 } }, /* mov %fs:0x28,%rax */
		{ 5, { 0x48, 0x89, 0x44, 0x24 }, 0x10 }, /* mov %rax,disp8(%rsp) */
		{ 2, { 0x31, 0xc0 } }, /* xor %eax,%eax */
	};
	size_t k;

	for (k = 0; k < ARRAY_SIZE(frame); k++)
		if (pat_at(code, n, i, &frame[k]))
			i += frame[k].len;
	return i;
}

static const struct x86_pat call_rel32 = { 5, { 0xe8 }, 0x1e };

int x86_int_arg_call(const uint8_t *code, size_t n, uint32_t *off)
{
	static const struct x86_pat store = { 4, { 0x89, 0x4c, 0x24 }, 0x8 }; /* mov %ecx,s(%rsp) */
	static const struct x86_pat lea = { 5,
					    { 0x48, 0x8d, 0x4c, 0x24 },
					    0x10 }; /* lea s(%rsp),%rcx */
	size_t i = skip_frame(code, n, skip_endbr64(code, n));

	if (!pat_at(code, n, i, &store) || !pat_at(code, n, i + store.len, &lea))
		return -EINVAL;
	/* The slot stored is the one passed, and never below the stack pointer. */
	if (code[i + 3] != code[i + store.len + 4] || (code[i + 3] & 0x80))
		return -EINVAL;
	i += store.len + lea.len;
	if (!pat_at(code, n, i, &call_rel32))
		return -EINVAL;
	*off = (uint32_t)i;
	return 0;
}

int x86_wrapped_call(const uint8_t *code, size_t n, int64_t *target)
{
	/* After the frame, each optional, in this order; %rdi is never written. */
	static const struct x86_pat then[] = {
		{ 2, { 0x85, 0xd2 } }, /* test %edx,%edx */
		{ 2, { 0x78 }, 0x2 }, /* js rel8: a negative length fails before the call */
		{ 3, { 0x48, 0x89, 0xe1 } }, /* mov %rsp,%rcx */
		{ 3, { 0x48, 0x63, 0xd2 } }, /* movslq %edx,%rdx */
	};
	size_t i = skip_frame(code, n, skip_endbr64(code, n)), k;
	int32_t rel;

	for (k = 0; k < ARRAY_SIZE(then); k++)
		if (pat_at(code, n, i, &then[k]))
			i += then[k].len;
	if (!pat_at(code, n, i, &call_rel32))
		return -EINVAL;
	rel = (int32_t)((uint32_t)code[i + 1] | (uint32_t)code[i + 2] << 8 |
			(uint32_t)code[i + 3] << 16 | (uint32_t)code[i + 4] << 24);
	*target = (int64_t)i + call_rel32.len + rel;
	return 0;
}

bool x86_emulated_entry(const uint8_t *code, size_t n)
{
	return push_at(code, n, skip_endbr64(code, n));
}
#else
int x86_field_accessor(const uint8_t *code, size_t n, uint32_t *disp)
{
	return -ENOTSUP;
}

int x86_past_null_check(const uint8_t *code, size_t n, uint32_t *off)
{
	return -ENOTSUP;
}

int x86_int_arg_call(const uint8_t *code, size_t n, uint32_t *off)
{
	return -ENOTSUP;
}

int x86_wrapped_call(const uint8_t *code, size_t n, int64_t *target)
{
	return -ENOTSUP;
}

bool x86_emulated_entry(const uint8_t *code, size_t n)
{
	return false;
}
#endif
