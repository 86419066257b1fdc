/*
 * lu-helper: guest RAM across the kexec.
 *
 * "ram.fingerprint": a cheap fingerprint of a VM's guest RAM (one 4 KiB page hashed per 2 MiB
 * block, read with pread() where the file has read(), DAX files and LUO memfds, through a
 * read-only shared mapping where it has not, pkernfs files). With "out" the per-block digests are written to that file
 * (renamed into place; not fsync'ed: the plan's sync before kexec -e flushes it); with "compare"
 * they are checked against such a file, and any block that differs fails the op with code
 * "mismatch", naming how many differ and the first one.
 *
 * "guard.no_truncate": a seccomp filter, kept across exec, that answers EPERM to ftruncate() to any
 * of the given sizes. A program ending in {"exec": QEMU} gets it: QEMU's memory-backend-file
 * truncates a backing file whose size reads 0 to its size= before it maps it, and every pkernfs file
 * reads size 0 after a kexec, while pkernfs's truncate maps the file to fresh blocks (the guest's
 * RAM is lost). Refused, QEMU logs "ftruncate: Operation not permitted" and maps the file as it is.
 */
#include "helper.h"

#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stddef.h>
#include <sys/prctl.h>
#include <time.h>

#define FP_STRIDE (2u << 20)
#define FP_PAGE 4096u
#define FP_MAGIC "liveupdate-ram-fingerprint 1"

/* 64-bit hash of one page (FNV-style mixing, word by word; no crypto needed: this guards mistakes, not attacks) */
static uint64_t page_hash(const unsigned char *p, size_t len)
{
	uint64_t h = 0xcbf29ce484222325ull;
	for (size_t i = 0; i + 8 <= len; i += 8) {
		uint64_t v;
		memcpy(&v, p + i, 8);
		h ^= v;
		h *= 0x100000001b3ull;
		h ^= h >> 29;
	}
	return h;
}

static int all_zero(const unsigned char *p, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if (p[i]) return 0;
	return 1;
}

/* the page sampled in block i: it moves through the block (so a partial remap is seen), always whole */
static uint64_t sample_offset(uint64_t i, uint64_t size)
{
	uint64_t off = i * FP_STRIDE + ((i * 131u) % (FP_STRIDE / FP_PAGE)) * FP_PAGE;
	if (off + FP_PAGE > size) off = i * FP_STRIDE;
	return off;
}

static double now_ms(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec * 1e3 + (double)t.tv_nsec / 1e6;
}

int op_ram_fingerprint(const struct jv *a, struct jw *w)
{
	const char *path = NULL, *out = NULL, *compare = NULL;
	uint64_t size = 0;
	/* no "size": a file's whole pages (a save image, whose size the plan cannot know); checked against the size recorded */
	if (arg_str(a, "path", &path, NULL) < 0 || arg_u64(a, "size", &size, 0, 0) < 0 || arg_str(a, "out", &out, "") < 0 ||
	    arg_str(a, "compare", &compare, "") < 0)
		return -1;
	if (!*out == !*compare) return bad("give exactly one of \"out\" (record) or \"compare\" (check)");
	if (size && (size < FP_PAGE || size % FP_PAGE)) return bad("\"size\" must be a whole number of 4 KiB pages");
	uint64_t blocks = (size + FP_STRIDE - 1) / FP_STRIDE;

	/* what was recorded, read before the RAM is touched: a bad record changes nothing */
	uint64_t *want = NULL;
	if (*compare) {
		FILE *f = fopen(compare, "re");
		if (!f) return sys_fail(errno, "open the fingerprint %s", compare);
		char line[200];
		unsigned long long rsize = 0, rblocks = 0;
		if (!fgets(line, sizeof line, f) || strncmp(line, FP_MAGIC, strlen(FP_MAGIC)) ||
		    sscanf(line + strlen(FP_MAGIC), " size=%llu blocks=%llu", &rsize, &rblocks) != 2) {
			fclose(f);
			return fail("invalid", 0, "%s is not a guest RAM fingerprint", compare);
		}
		if (!size && rsize >= FP_PAGE && rsize % FP_PAGE == 0) {
			size = rsize;
			blocks = (size + FP_STRIDE - 1) / FP_STRIDE;
		}
		if (rsize != size || rblocks != blocks) {
			fclose(f);
			return fail("mismatch", 0, "%s was recorded for %llu bytes of guest RAM, not %llu", compare, rsize, (unsigned long long)size);
		}
		want = calloc(blocks, sizeof *want);
		if (!want) { fclose(f); return fail("failed", ENOMEM, "out of memory"); }
		for (uint64_t i = 0; i < blocks; i++) {
			unsigned long long v;
			if (!fgets(line, sizeof line, f) || sscanf(line, "%llx", &v) != 1) {
				fclose(f);
				free(want);
				return fail("invalid", 0, "%s ends at block %llu of %llu (cut short)", compare, (unsigned long long)i, (unsigned long long)blocks);
			}
			want[i] = v;
		}
		fclose(f);
	}

	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) { free(want); return sys_fail(errno, "open guest RAM %s", path); }
	uint64_t file_bytes = 0;
	if (!size) {
		struct stat st;
		if (fstat(fd, &st) < 0) { int e = errno; close(fd); return sys_fail(e, "stat %s", path); }
		file_bytes = (uint64_t)st.st_size;
		size = file_bytes & ~(uint64_t)(FP_PAGE - 1);
		if (size < FP_PAGE) { close(fd); return fail("invalid", 0, "%s holds less than a 4 KiB page", path); }
		blocks = (size + FP_STRIDE - 1) / FP_STRIDE;
	}
	double t0 = now_ms();
	/*
	 * read() where the file has it (DAX files, memfds): a copy of each sampled page, no page tables
	 * built; a mapping where it has not (pkernfs: mmap only, which maps the whole file at once).
	 */
	static unsigned char page[FP_PAGE];
	unsigned char *m = NULL;
	ssize_t n0 = pread(fd, page, FP_PAGE, (off_t)sample_offset(0, size));
	if (n0 < 0 && errno == EINVAL) {
		/* no read(): pkernfs (whose size reads 0 after a kexec, so no size check is possible here) */
		m = mmap(NULL, size, PROT_READ, MAP_SHARED, fd, 0);
		if (m == MAP_FAILED) {
			int merr = errno;
			close(fd);
			free(want);
			return sys_fail(merr, "map %llu bytes of guest RAM %s", (unsigned long long)size, path);
		}
	}

	uint64_t *got = calloc(blocks, sizeof *got);
	if (!got) { if (m) munmap(m, size); close(fd); free(want); return fail("failed", ENOMEM, "out of memory"); }
	uint64_t zero = 0, differ = 0, first = 0, first_zero = 0;
	uint64_t all = 0xcbf29ce484222325ull;
	for (uint64_t i = 0; i < blocks; i++) {
		uint64_t off = sample_offset(i, size);
		const unsigned char *p = m ? m + off : page;
		errno = 0;
		if (!m && (i ? pread(fd, page, FP_PAGE, (off_t)off) : n0) != (ssize_t)FP_PAGE) {
			int e = errno ? errno : EIO;
			close(fd);
			free(got);
			free(want);
			return sys_fail(e, "read guest RAM %s at offset 0x%llx (is it smaller than %llu bytes?)", path, (unsigned long long)off, (unsigned long long)size);
		}
		got[i] = page_hash(p, FP_PAGE);
		int z = all_zero(p, FP_PAGE);
		zero += (uint64_t)z;
		all = (all ^ got[i]) * 0x100000001b3ull;
		if (want && want[i] != got[i]) {
			if (!differ) { first = i; first_zero = (uint64_t)z; }
			differ++;
		}
	}
	if (m) munmap(m, size);
	close(fd);
	double ms = now_ms() - t0;
	free(want);

	if (differ) {
		free(got);
		return fail("mismatch", 0,
		            "guest RAM %s is not what was there before the kexec: %llu of %llu 2 MiB blocks differ from the fingerprint %s "
		            "(the first at offset 0x%llx, which now reads %s)",
		            path, (unsigned long long)differ, (unsigned long long)blocks, compare, (unsigned long long)(first * FP_STRIDE),
		            first_zero ? "all zeros" : "other data");
	}
	if (*out) {
		char tmp[4200];
		if ((size_t)snprintf(tmp, sizeof tmp, "%s.part", out) >= sizeof tmp) { free(got); return bad("\"out\" is too long"); }
		FILE *f = fopen(tmp, "we");
		if (!f) { int e = errno; free(got); return sys_fail(e, "create %s", tmp); }
		fprintf(f, "%s size=%llu blocks=%llu\n", FP_MAGIC, (unsigned long long)size, (unsigned long long)blocks);
		for (uint64_t i = 0; i < blocks; i++) fprintf(f, "%016llx\n", (unsigned long long)got[i]);
		/* no fsync here, inside the blackout: the kexec phase's sync flushes it with the device state */
		int bad_write = fflush(f) != 0;
		int e = errno;
		if (fclose(f) != 0 || bad_write || rename(tmp, out) != 0) { free(got); unlink(tmp); return sys_fail(e ? e : errno, "write the fingerprint %s", out); }
	}
	free(got);
	char hex[17];
	snprintf(hex, sizeof hex, "%016llx", (unsigned long long)all);
	jw_kstr(w, "digest", hex);
	jw_ku64(w, "blocks", blocks);
	jw_ku64(w, "zeroBlocks", zero);
	if (file_bytes) jw_ku64(w, "bytes", file_bytes);
	jw_ku64(w, "microseconds", (uint64_t)(ms * 1000));
	return 0;
}

#if defined(__x86_64__)
#define LU_AUDIT_ARCH AUDIT_ARCH_X86_64
#elif defined(__aarch64__)
#define LU_AUDIT_ARCH AUDIT_ARCH_AARCH64
#endif

int op_guard_no_truncate(const struct jv *a, struct jw *w)
{
	const struct jv *sizes = json_get(a, "sizes");
	if (!sizes || sizes->t != J_ARR || sizes->n == 0 || sizes->n > 32) return bad("\"sizes\" must be a list of 1 to 32 byte counts");
	for (size_t i = 0; i < sizes->n; i++)
		if (sizes->items[i].t != J_NUM || !sizes->items[i].is_u64) return bad("\"sizes\": every size must be a non-negative integer");
#ifndef LU_AUDIT_ARCH
	return fail("not-supported", ENOSYS, "guard.no_truncate is not built for this architecture");
#else
	/* arch check, then: nr == ftruncate && (arg1 == size_0 || ...) -> EPERM; everything else allowed */
	struct sock_filter prog[8 + 5 * 32];
	size_t n = 0;
	const uint32_t lo = offsetof(struct seccomp_data, args[1]), hi = lo + 4;
	prog[n++] = (struct sock_filter)BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch));
	prog[n++] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, LU_AUDIT_ARCH, 1, 0);
	prog[n++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW);
	prog[n++] = (struct sock_filter)BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr));
	prog[n++] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_ftruncate, 1, 0);
	prog[n++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW);
	for (size_t i = 0; i < sizes->n; i++) {
		uint64_t s = sizes->items[i].u;
		/* low word equal? then high word equal? then refuse; otherwise the next size */
		prog[n++] = (struct sock_filter)BPF_STMT(BPF_LD | BPF_W | BPF_ABS, lo);
		prog[n++] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, (uint32_t)s, 0, 3);
		prog[n++] = (struct sock_filter)BPF_STMT(BPF_LD | BPF_W | BPF_ABS, hi);
		prog[n++] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, (uint32_t)(s >> 32), 0, 1);
		prog[n++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | (EPERM & SECCOMP_RET_DATA));
	}
	prog[n++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW);
	struct sock_fprog fp = { (unsigned short)n, prog };
	/* root (CAP_SYS_ADMIN) may install it as is; otherwise no_new_privs first, as the kernel requires */
	if (prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &fp) < 0) {
		if (errno != EACCES || prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0 || prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &fp) < 0)
			return sys_fail(errno, "install the no-truncate seccomp filter");
	}
	jw_key(w, "sizes");
	jw_arr(w);
	for (size_t i = 0; i < sizes->n; i++) jw_u64(w, sizes->items[i].u);
	jw_end_arr(w);
	return 0;
#endif
}
