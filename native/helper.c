/*
 * lu-helper: the ioctls Node cannot issue, for liveupdate's plans (VFIO container, VFIO cdev +
 * iommufd, the pkernfs RFC's persistent page tables, LUO sessions).
 *
 * One JSON request on stdin, one JSON result on stdout. A request is one op ({"op":"probe"}) or a
 * program: {"ops":[...], "then":{"hold":{"socket":PATH}} | {"exec":[ARGV...]}}. Ops name what they
 * open with "as" and later ops refer to it by that name; "hold" keeps everything open in a daemon
 * that answers ops on a unix socket (status, fd passing by SCM_RIGHTS, more ops, kexec); "exec"
 * hands the fds to a VMM by inheritance ({fd:NAME} in its argv becomes the number).
 *
 * Errors: {"ok":false,"error":{"op","index","errno","errnoName","code","message"}}, code one of
 * bad-request, not-supported, not-found, permission, busy, invalid, not-viable, failed. Exit 0 ok,
 * 1 an op failed, 2 a bad request. Nothing in a request can crash it.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/reboot.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/reboot.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <unistd.h>

#include "json.h"
#include "uapi.h"

#define HELPER_PROTOCOL 1
#define MAX_REQUEST (1 << 20)
#define MAX_HANDLES 64

enum hkind { H_FD, H_BUF, H_ID };
static const char *kind_name[] = { "fd", "buffer", "id" };

struct handle {
	char name[32];
	enum hkind kind;
	int fd;         /* H_FD: the fd; H_ID: the iommufd the id lives in; H_BUF: the backing fd or -1 */
	void *ptr;      /* H_BUF */
	uint64_t size;  /* H_BUF, memfds */
	uint32_t id;    /* H_ID; bound VFIO cdevs: the iommufd devid */
	char what[96];  /* what it is, for messages: "/dev/vfio/vfio", "ioas 2" */
};

static struct handle handles[MAX_HANDLES];
static int nhandles;

static struct {
	const char *code;
	int eno;
	char message[600];
} E;

static int fail(const char *code, int eno, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int fail(const char *code, int eno, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(E.message, sizeof E.message, fmt, ap);
	va_end(ap);
	E.code = code;
	E.eno = eno;
	return -1;
}

static const char *code_of(int eno)
{
	switch (eno) {
	case ENOENT: return "not-found";
	case EPERM:
	case EACCES: return "permission";
	case ENOTTY:
	case ENOSYS:
	case EOPNOTSUPP:
	case ENODEV:
	case ENXIO: return "not-supported";
	case EBUSY: return "busy";
	case EINVAL: return "invalid";
	default: return "failed";
	}
}

static const char *ename(int eno)
{
	const char *n = strerrorname_np(eno);
	return n ? n : "E?";
}

static int sys_fail(int eno, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int sys_fail(int eno, const char *fmt, ...)
{
	char what[400];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(what, sizeof what, fmt, ap);
	va_end(ap);
	return fail(code_of(eno), eno, "%s: %s (%s)", what, strerror(eno), ename(eno));
}

/* An ioctl the kernel does not know answers ENOTTY: say so in words. */
static int ioctl_fail(const char *name, const char *on, int eno, const char *needs)
{
	if (eno == ENOTTY)
		return fail("not-supported", eno, "%s on %s: not supported by this kernel (ENOTTY)%s%s", name, on, needs ? ": " : "", needs ? needs : "");
	return sys_fail(eno, "%s on %s", name, on);
}

/* ---- request arguments ---- */

static int bad(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int bad(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(E.message, sizeof E.message, fmt, ap);
	va_end(ap);
	E.code = "bad-request";
	E.eno = EINVAL;
	return -1;
}

static int arg_str(const struct jv *a, const char *k, const char **out, const char *def)
{
	const struct jv *v = json_get(a, k);
	if (!v) {
		if (def) { *out = def; return 0; }
		return bad("missing field \"%s\" (a string)", k);
	}
	if (v->t != J_STR) return bad("field \"%s\" must be a string", k);
	*out = v->s;
	return 0;
}

static int arg_u64(const struct jv *a, const char *k, uint64_t *out, int required, uint64_t def)
{
	const struct jv *v = json_get(a, k);
	if (!v) {
		if (required) return bad("missing field \"%s\" (a non-negative integer)", k);
		*out = def;
		return 0;
	}
	if (v->t != J_NUM || !v->is_u64) return bad("field \"%s\" must be a non-negative integer", k);
	*out = v->u;
	return 0;
}

static int arg_bool(const struct jv *a, const char *k, int *out, int def)
{
	const struct jv *v = json_get(a, k);
	if (!v) { *out = def; return 0; }
	if (v->t != J_BOOL) return bad("field \"%s\" must be true or false", k);
	*out = v->b;
	return 0;
}

static struct handle *find(const char *name)
{
	for (int i = 0; i < nhandles; i++)
		if (handles[i].name[0] && !strcmp(handles[i].name, name)) return &handles[i];
	return NULL;
}

static int arg_handle(const struct jv *a, const char *k, enum hkind kind, struct handle **out)
{
	const char *name = NULL;
	if (arg_str(a, k, &name, NULL) < 0) return -1;
	struct handle *h = find(name);
	if (!h) return bad("field \"%s\": no handle named \"%s\" (made by an earlier op's \"as\")", k, name);
	if (h->kind != kind) return bad("field \"%s\": \"%s\" is a %s, not a %s", k, name, kind_name[h->kind], kind_name[kind]);
	*out = h;
	return 0;
}

/* The name a new handle gets; checked before the op acts, so a bad name changes nothing. */
static int arg_as(const struct jv *a, const char **name)
{
	if (arg_str(a, "as", name, NULL) < 0) return -1;
	size_t n = strlen(*name);
	if (n == 0 || n >= sizeof handles[0].name) return bad("field \"as\" must be 1 to %zu characters", sizeof handles[0].name - 1);
	for (const char *p = *name; *p; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') || *p == '-' || *p == '_' || *p == '.'))
			return bad("field \"as\": \"%s\" may hold only letters, digits, '-', '_' and '.'", *name);
	if (find(*name)) return bad("field \"as\": \"%s\" is already taken", *name);
	if (nhandles >= MAX_HANDLES) return bad("too many handles (at most %d)", MAX_HANDLES);
	return 0;
}

static struct handle *add(const char *name, enum hkind kind, int fd, const char *fmt, ...) __attribute__((format(printf, 4, 5)));
static struct handle *add(const char *name, enum hkind kind, int fd, const char *fmt, ...)
{
	struct handle *h = &handles[nhandles++];
	memset(h, 0, sizeof *h);
	snprintf(h->name, sizeof h->name, "%s", name);
	h->kind = kind;
	h->fd = fd;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(h->what, sizeof h->what, fmt, ap);
	va_end(ap);
	return h;
}

static int open_dev(const char *path, int flags, const char *missing)
{
	int fd = open(path, flags | O_CLOEXEC);
	if (fd < 0) {
		int e = errno;
		if (e == ENOENT && missing) return fail("not-supported", e, "no %s: %s", path, missing);
		return -1 - e; /* caller reports */
	}
	return fd;
}

/* Who has a device open (by /proc/PID/fd), for "busy" errors. */
static void holders(const char *dev, char *out, size_t outlen)
{
	out[0] = 0;
	DIR *d = opendir("/proc");
	if (!d) return;
	struct dirent *e;
	size_t used = 0;
	while ((e = readdir(d))) {
		if (e->d_name[0] < '0' || e->d_name[0] > '9') continue;
		char fdd[300];
		snprintf(fdd, sizeof fdd, "/proc/%s/fd", e->d_name);
		DIR *f = opendir(fdd);
		if (!f) continue;
		struct dirent *g;
		while ((g = readdir(f))) {
			char link[600], target[256];
			snprintf(link, sizeof link, "%s/%s", fdd, g->d_name);
			ssize_t n = readlink(link, target, sizeof target - 1);
			if (n <= 0) continue;
			target[n] = 0;
			if (strcmp(target, dev)) continue;
			char comm[64] = "?", cpath[300];
			snprintf(cpath, sizeof cpath, "/proc/%s/comm", e->d_name);
			FILE *c = fopen(cpath, "r");
			if (c) {
				if (fgets(comm, sizeof comm, c)) comm[strcspn(comm, "\n")] = 0;
				fclose(c);
			}
			int w = snprintf(out + used, outlen - used, "%spid %s (%s)", used ? ", " : "", e->d_name, comm);
			if (w > 0 && (size_t)w < outlen - used) used += (size_t)w;
			break;
		}
		closedir(f);
	}
	closedir(d);
}

static int busy_fail(const char *dev, const char *what)
{
	char who[400];
	holders(dev, who, sizeof who);
	return fail("busy", EBUSY, "%s is busy: %s%s%s", dev, what, who[0] ? "; held by " : "", who);
}

/* ---- ops ---- */

typedef int (*op_fn)(const struct jv *a, struct jw *w);

static int read_small(const char *path, char *buf, size_t len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) return -1;
	ssize_t n = read(fd, buf, len - 1);
	close(fd);
	if (n < 0) return -1;
	buf[n] = 0;
	buf[strcspn(buf, "\n")] = 0;
	return 0;
}

static int op_probe(const struct jv *a, struct jw *w)
{
	(void)a;
	jw_key(w, "vfio");
	jw_obj(w);
	int fd = open("/dev/vfio/vfio", O_RDWR | O_CLOEXEC);
	jw_kbool(w, "present", fd >= 0);
	if (fd >= 0) {
		jw_ki64(w, "apiVersion", ioctl(fd, LU_VFIO_GET_API_VERSION));
		jw_kbool(w, "type1", ioctl(fd, LU_VFIO_CHECK_EXTENSION, LU_VFIO_TYPE1_IOMMU) > 0);
		jw_kbool(w, "type1v2", ioctl(fd, LU_VFIO_CHECK_EXTENSION, LU_VFIO_TYPE1v2_IOMMU) > 0);
		close(fd);
	} else {
		jw_kstr(w, "error", ename(errno));
	}
	struct stat st;
	jw_kbool(w, "cdev", stat("/dev/vfio/devices", &st) == 0);
	jw_end_obj(w);

	jw_key(w, "groups");
	jw_arr(w);
	DIR *d = opendir("/sys/kernel/iommu_groups");
	struct dirent *e;
	while (d && (e = readdir(d))) {
		if (e->d_name[0] < '0' || e->d_name[0] > '9') continue;
		jw_obj(w);
		jw_ku64(w, "group", strtoull(e->d_name, NULL, 10));
		char path[300];
		snprintf(path, sizeof path, "/sys/kernel/iommu_groups/%s/devices", e->d_name);
		jw_key(w, "devices");
		jw_arr(w);
		DIR *dd = opendir(path);
		struct dirent *de;
		while (dd && (de = readdir(dd)))
			if (de->d_name[0] != '.') jw_str(w, de->d_name);
		if (dd) closedir(dd);
		jw_end_arr(w);
		snprintf(path, sizeof path, "/dev/vfio/%s", e->d_name);
		int g = open(path, O_RDWR | O_CLOEXEC);
		jw_kbool(w, "vfio", g >= 0 || errno == EBUSY);
		if (g >= 0) {
			struct lu_vfio_group_status s = { sizeof s, 0 };
			if (ioctl(g, LU_VFIO_GROUP_GET_STATUS, &s) == 0) jw_kbool(w, "viable", (s.flags & LU_VFIO_GROUP_FLAGS_VIABLE) != 0);
			close(g);
		} else if (errno == EBUSY) {
			jw_kbool(w, "busy", 1);
		}
		jw_end_obj(w);
	}
	if (d) closedir(d);
	jw_end_arr(w);

	jw_key(w, "iommufd");
	jw_obj(w);
	fd = open("/dev/iommu", O_RDWR | O_CLOEXEC);
	jw_kbool(w, "present", fd >= 0);
	if (fd >= 0) close(fd);
	jw_end_obj(w);

	jw_key(w, "liveupdate");
	jw_obj(w);
	fd = open("/dev/liveupdate", O_RDWR | O_CLOEXEC);
	int lerr = errno;
	jw_kbool(w, "present", fd >= 0 || lerr == EBUSY);
	if (fd >= 0) close(fd);
	if (fd < 0 && lerr == EBUSY) {
		char who[400];
		holders("/dev/liveupdate", who, sizeof who);
		jw_kbool(w, "busy", 1);
		jw_kstr(w, "heldBy", who);
	}
	jw_end_obj(w);

	jw_key(w, "kexec");
	jw_obj(w);
	char buf[64];
	if (read_small("/sys/kernel/kexec_loaded", buf, sizeof buf) == 0) jw_kbool(w, "loaded", buf[0] == '1');
	/* kexec_file_load with an unknown flag: EINVAL if the syscall exists, ENOSYS if not. Each call
	 * spends one of kexec_load_limit_reboot where an operator set a limit, so then it is not probed. */
	if (read_small("/proc/sys/kernel/kexec_load_limit_reboot", buf, sizeof buf) == 0 && strcmp(buf, "-1") != 0) {
		jw_kstr(w, "fileLoad", "unknown");
		jw_kstr(w, "fileLoadNote", "not probed: kexec_load_limit_reboot is set and a probe would spend one load");
	} else {
		long r = syscall(SYS_kexec_file_load, -1, -1, 0UL, NULL, 0x80000000UL);
		int ke = errno;
		jw_kstr(w, "fileLoad", r == 0 || ke == EINVAL || ke == EBADF ? "supported" : ke == ENOSYS ? "not-supported" : ke == EPERM ? "not-permitted" : ename(ke));
	}
	jw_end_obj(w);
	return 0;
}

static int op_open(const struct jv *a, struct jw *w)
{
	const char *path = NULL, *as = NULL;
	int wr = 0;
	if (arg_str(a, "path", &path, NULL) < 0 || arg_as(a, &as) < 0 || arg_bool(a, "write", &wr, 1) < 0) return -1;
	int fd = open(path, (wr ? O_RDWR : O_RDONLY) | O_CLOEXEC);
	if (fd < 0) return sys_fail(errno, "open %s", path);
	add(as, H_FD, fd, "%s", path);
	jw_ki64(w, "fd", fd);
	return 0;
}

static int op_close(const struct jv *a, struct jw *w)
{
	const char *name = NULL;
	if (arg_str(a, "name", &name, NULL) < 0) return -1;
	struct handle *h = find(name);
	if (!h) return bad("field \"name\": no handle named \"%s\"", name);
	if (h->kind == H_BUF && h->ptr) munmap(h->ptr, h->size);
	if (h->kind != H_ID && h->fd >= 0) close(h->fd);
	h->name[0] = 0;
	jw_kstr(w, "closed", name);
	return 0;
}

static int op_buffer_alloc(const struct jv *a, struct jw *w)
{
	uint64_t size = 0;
	const char *as = NULL;
	if (arg_u64(a, "size", &size, 1, 0) < 0 || arg_as(a, &as) < 0) return -1;
	if (size == 0 || size > (1ULL << 40) || size % 4096) return bad("field \"size\" must be a multiple of 4096 between 4 KiB and 1 TiB");
	void *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED) return sys_fail(errno, "mmap %llu bytes", (unsigned long long)size);
	struct handle *h = add(as, H_BUF, -1, "anonymous buffer");
	h->ptr = p;
	h->size = size;
	jw_ku64(w, "size", size);
	return 0;
}

/* Guest RAM as the VMM will map it: a shared mapping of a file (pmem, pkernfs) or a held fd (memfd). */
static int op_buffer_file(const struct jv *a, struct jw *w)
{
	uint64_t size = 0, offset = 0;
	const char *as, *path = NULL;
	struct handle *src = NULL;
	if (arg_u64(a, "size", &size, 1, 0) < 0 || arg_u64(a, "offset", &offset, 0, 0) < 0 || arg_as(a, &as) < 0) return -1;
	if (json_get(a, "fd")) {
		if (arg_handle(a, "fd", H_FD, &src) < 0) return -1;
	} else if (arg_str(a, "path", &path, NULL) < 0) {
		return bad("buffer.file needs \"path\" or \"fd\"");
	}
	if (size == 0 || size % 4096 || offset % 4096) return bad("\"size\" and \"offset\" must be multiples of 4096, size not 0");
	int fd = src ? src->fd : open(path, O_RDWR | O_CLOEXEC);
	if (fd < 0) return sys_fail(errno, "open %s", path);
	void *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, (off_t)offset);
	if (p == MAP_FAILED) {
		int e = errno;
		if (!src) close(fd);
		return sys_fail(e, "mmap %s", src ? src->what : path);
	}
	struct handle *h = add(as, H_BUF, src ? -1 : fd, "%s", src ? src->what : path);
	h->ptr = p;
	h->size = size;
	jw_ku64(w, "size", size);
	return 0;
}

static int op_memfd_create(const struct jv *a, struct jw *w)
{
	const char *name = NULL, *as = NULL;
	uint64_t size = 0;
	if (arg_str(a, "name", &name, NULL) < 0 || arg_u64(a, "size", &size, 1, 0) < 0 || arg_as(a, &as) < 0) return -1;
	if (size == 0 || size % 4096) return bad("field \"size\" must be a non-zero multiple of 4096");
	/* LUO preserves plain shmem memfds only: no MFD_HUGETLB */
	int fd = memfd_create(name, MFD_CLOEXEC);
	if (fd < 0) return sys_fail(errno, "memfd_create %s", name);
	if (ftruncate(fd, (off_t)size) < 0) {
		int e = errno;
		close(fd);
		return sys_fail(e, "ftruncate memfd %s to %llu", name, (unsigned long long)size);
	}
	struct handle *h = add(as, H_FD, fd, "memfd %s", name);
	h->size = size;
	jw_ki64(w, "fd", fd);
	jw_ku64(w, "size", size);
	return 0;
}

/* ---- VFIO container ---- */

static int op_vfio_container_open(const struct jv *a, struct jw *w)
{
	const char *as = NULL;
	if (arg_as(a, &as) < 0) return -1;
	int fd = open_dev("/dev/vfio/vfio", O_RDWR, "VFIO is not available on this kernel (modprobe vfio vfio_iommu_type1 vfio-pci)");
	if (fd == -1) return -1;
	if (fd < 0) return sys_fail(-fd - 1, "open /dev/vfio/vfio");
	int v = ioctl(fd, LU_VFIO_GET_API_VERSION);
	if (v != LU_VFIO_API_VERSION) {
		close(fd);
		return fail("not-supported", 0, "/dev/vfio/vfio speaks VFIO API %d, this helper %d", v, LU_VFIO_API_VERSION);
	}
	add(as, H_FD, fd, "/dev/vfio/vfio");
	jw_ki64(w, "apiVersion", v);
	jw_kbool(w, "type1", ioctl(fd, LU_VFIO_CHECK_EXTENSION, LU_VFIO_TYPE1_IOMMU) > 0);
	jw_kbool(w, "type1v2", ioctl(fd, LU_VFIO_CHECK_EXTENSION, LU_VFIO_TYPE1v2_IOMMU) > 0);
	return 0;
}

static int valid_bdf(const char *s)
{
	unsigned d, b, sl, f;
	char end;
	return strlen(s) == 12 && sscanf(s, "%4x:%2x:%2x.%1x%c", &d, &b, &sl, &f, &end) == 4;
}

static int group_number(const struct jv *a, unsigned long long *out)
{
	const struct jv *g = json_get(a, "group");
	if (g && g->t == J_NUM && g->is_u64 && g->u < 1000000) { *out = g->u; return 0; }
	if (g && g->t == J_STR) {
		char *end;
		errno = 0;
		unsigned long long n = strtoull(g->s, &end, 10);
		if (g->s[0] >= '0' && g->s[0] <= '9' && !*end && !errno && n < 1000000) { *out = n; return 0; }
	}
	/* or the group of a PCI device, as sysfs links it */
	const struct jv *d = json_get(a, "device");
	if (!g && d && d->t == J_STR) {
		if (!valid_bdf(d->s)) return bad("field \"device\" must be a PCI address like 0000:00:03.0");
		char link[160], target[256];
		snprintf(link, sizeof link, "/sys/bus/pci/devices/%s/iommu_group", d->s);
		ssize_t n = readlink(link, target, sizeof target - 1);
		if (n <= 0) return fail(errno == ENOENT ? "not-found" : code_of(errno), errno, "%s has no IOMMU group (no such device, or the IOMMU is off: intel_iommu=on)", d->s);
		target[n] = 0;
		*out = strtoull(strrchr(target, '/') + 1, NULL, 10);
		return 0;
	}
	return bad("field \"group\" must be an IOMMU group number (or give \"device\", a PCI address)");
}

static int op_vfio_group_open(const struct jv *a, struct jw *w)
{
	unsigned long long n = 0;
	const char *as = NULL;
	if (group_number(a, &n) < 0 || arg_as(a, &as) < 0) return -1;
	char path[64];
	snprintf(path, sizeof path, "/dev/vfio/%llu", n);
	int fd = open(path, O_RDWR | O_CLOEXEC);
	if (fd < 0) {
		int e = errno;
		if (e == ENOENT) return fail("not-found", e, "no %s: IOMMU group %llu is not bound to VFIO (bind its devices to vfio-pci)", path, n);
		if (e == EBUSY) return busy_fail(path, "the group is open in another process (a running VMM?)");
		return sys_fail(e, "open %s", path);
	}
	struct lu_vfio_group_status s = { sizeof s, 0 };
	if (ioctl(fd, LU_VFIO_GROUP_GET_STATUS, &s) < 0) {
		int e = errno;
		close(fd);
		return ioctl_fail("VFIO_GROUP_GET_STATUS", path, e, NULL);
	}
	if (!(s.flags & LU_VFIO_GROUP_FLAGS_VIABLE)) {
		close(fd);
		return fail("not-viable", 0, "IOMMU group %llu is not viable: every device in it must be bound to vfio-pci (or to no driver)", n);
	}
	add(as, H_FD, fd, "%s", path);
	jw_ku64(w, "group", n);
	jw_kbool(w, "viable", 1);
	jw_kbool(w, "containerSet", (s.flags & LU_VFIO_GROUP_FLAGS_CONTAINER_SET) != 0);
	return 0;
}

static int op_vfio_group_set_container(const struct jv *a, struct jw *w)
{
	struct handle *g = NULL, *c = NULL;
	if (arg_handle(a, "group", H_FD, &g) < 0 || arg_handle(a, "container", H_FD, &c) < 0) return -1;
	if (ioctl(g->fd, LU_VFIO_GROUP_SET_CONTAINER, &c->fd) < 0) return ioctl_fail("VFIO_GROUP_SET_CONTAINER", g->what, errno, NULL);
	jw_kbool(w, "containerSet", 1);
	return 0;
}

static int op_vfio_set_iommu(const struct jv *a, struct jw *w)
{
	struct handle *c = NULL;
	const char *type = NULL;
	if (arg_handle(a, "container", H_FD, &c) < 0 || arg_str(a, "type", &type, "type1v2") < 0) return -1;
	long t;
	if (!strcmp(type, "type1v2") || !strcmp(type, "VFIO_TYPE1v2_IOMMU")) t = LU_VFIO_TYPE1v2_IOMMU;
	else if (!strcmp(type, "type1") || !strcmp(type, "VFIO_TYPE1_IOMMU")) t = LU_VFIO_TYPE1_IOMMU;
	else return bad("field \"type\" must be type1v2 or type1");
	if (ioctl(c->fd, LU_VFIO_CHECK_EXTENSION, t) <= 0) return fail("not-supported", 0, "%s: this kernel's VFIO has no %s IOMMU", c->what, type);
	if (ioctl(c->fd, LU_VFIO_SET_IOMMU, t) < 0) return ioctl_fail("VFIO_SET_IOMMU", c->what, errno, NULL);
	jw_kstr(w, "type", t == LU_VFIO_TYPE1v2_IOMMU ? "type1v2" : "type1");
	return 0;
}

static int op_vfio_set_persistent_pgtables(const struct jv *a, struct jw *w)
{
	struct handle *c = NULL, *f = NULL;
	if (arg_handle(a, "container", H_FD, &c) < 0 || arg_handle(a, "file", H_FD, &f) < 0) return -1;
	struct lu_vfio_set_persistent_pgtables p = { (uint32_t)f->fd };
	if (ioctl(c->fd, LU_VFIO_CONTAINER_SET_PERSISTENT_PGTABLES, &p) < 0)
		return ioctl_fail("VFIO_CONTAINER_SET_PERSISTENT_PGTABLES", c->what, errno, "it needs the pkernfs RFC kernel");
	jw_kstr(w, "pgtables", f->what);
	return 0;
}

static int map_flags(const struct jv *a, uint32_t *flags, int *live)
{
	const struct jv *f = json_get(a, "flags");
	*flags = 0;
	*live = 0;
	if (!f) { *flags = LU_VFIO_DMA_MAP_FLAG_READ | LU_VFIO_DMA_MAP_FLAG_WRITE; return 0; }
	if (f->t != J_ARR) return bad("field \"flags\" must be a list of read, write, live_update");
	for (size_t i = 0; i < f->n; i++) {
		const struct jv *x = &f->items[i];
		if (x->t != J_STR) return bad("field \"flags\" must be a list of strings");
		if (!strcasecmp(x->s, "read")) *flags |= LU_VFIO_DMA_MAP_FLAG_READ;
		else if (!strcasecmp(x->s, "write")) *flags |= LU_VFIO_DMA_MAP_FLAG_WRITE;
		else if (!strcasecmp(x->s, "live_update")) { *flags |= LU_VFIO_DMA_MAP_FLAG_LIVE_UPDATE; *live = 1; }
		else return bad("field \"flags\": unknown flag \"%s\" (read, write, live_update)", x->s);
	}
	return 0;
}

static int op_vfio_dma_map(const struct jv *a, struct jw *w)
{
	struct handle *c = NULL, *b = NULL;
	uint64_t iova = 0, size = 0;
	uint32_t flags = 0;
	int live = 0;
	if (arg_handle(a, "container", H_FD, &c) < 0 || arg_handle(a, "buffer", H_BUF, &b) < 0 || arg_u64(a, "iova", &iova, 1, 0) < 0 ||
	    arg_u64(a, "size", &size, 0, b->size) < 0 || map_flags(a, &flags, &live) < 0)
		return -1;
	if (size == 0 || size > b->size) return bad("field \"size\" must be between 1 and the buffer's %llu bytes", (unsigned long long)b->size);
	struct lu_vfio_dma_map m = { sizeof m, flags, (uint64_t)(uintptr_t)b->ptr, iova, size };
	if (ioctl(c->fd, LU_VFIO_IOMMU_MAP_DMA, &m) < 0) {
		int e = errno;
		if (live && e == EINVAL)
			return fail("not-supported", e, "VFIO_IOMMU_MAP_DMA with VFIO_DMA_MAP_FLAG_LIVE_UPDATE on %s: not supported by this kernel (EINVAL: the flag is unknown to it; it needs the pkernfs RFC kernel)", c->what);
		return ioctl_fail("VFIO_IOMMU_MAP_DMA", c->what, e, NULL);
	}
	jw_ku64(w, "iova", iova);
	jw_ku64(w, "size", size);
	jw_kbool(w, "liveUpdate", live);
	return 0;
}

static int op_vfio_dma_unmap(const struct jv *a, struct jw *w)
{
	struct handle *c = NULL;
	uint64_t iova = 0, size = 0;
	if (arg_handle(a, "container", H_FD, &c) < 0 || arg_u64(a, "iova", &iova, 1, 0) < 0 || arg_u64(a, "size", &size, 1, 0) < 0) return -1;
	struct lu_vfio_dma_unmap u = { sizeof u, 0, iova, size };
	if (ioctl(c->fd, LU_VFIO_IOMMU_UNMAP_DMA, &u) < 0) return ioctl_fail("VFIO_IOMMU_UNMAP_DMA", c->what, errno, NULL);
	jw_ku64(w, "iova", iova);
	jw_ku64(w, "unmapped", u.size);
	return 0;
}

static int device_info(int fd, const char *what, struct jw *w)
{
	struct lu_vfio_device_info i = { sizeof i, 0, 0, 0, 0, 0 };
	if (ioctl(fd, LU_VFIO_DEVICE_GET_INFO, &i) < 0) return ioctl_fail("VFIO_DEVICE_GET_INFO", what, errno, NULL);
	jw_kbool(w, "pci", (i.flags & LU_VFIO_DEVICE_FLAGS_PCI) != 0);
	jw_ku64(w, "regions", i.num_regions);
	jw_ku64(w, "irqs", i.num_irqs);
	return 0;
}


static int op_vfio_group_device(const struct jv *a, struct jw *w)
{
	struct handle *g = NULL;
	const char *dev = NULL, *as = NULL;
	if (arg_handle(a, "group", H_FD, &g) < 0 || arg_str(a, "device", &dev, NULL) < 0 || arg_as(a, &as) < 0) return -1;
	if (!valid_bdf(dev)) return bad("field \"device\" must be a PCI address like 0000:00:03.0");
	int fd = ioctl(g->fd, LU_VFIO_GROUP_GET_DEVICE_FD, dev);
	if (fd < 0) return ioctl_fail("VFIO_GROUP_GET_DEVICE_FD", g->what, errno, NULL);
	fcntl(fd, F_SETFD, FD_CLOEXEC);
	add(as, H_FD, fd, "device %s", dev);
	jw_ki64(w, "fd", fd);
	return device_info(fd, dev, w);
}

/* ---- VFIO cdev + iommufd ---- */

static int op_iommufd_open(const struct jv *a, struct jw *w)
{
	const char *as = NULL;
	if (arg_as(a, &as) < 0) return -1;
	int fd = open_dev("/dev/iommu", O_RDWR, "this kernel has no iommufd (CONFIG_IOMMUFD): not supported by this kernel");
	if (fd == -1) return -1;
	if (fd < 0) return sys_fail(-fd - 1, "open /dev/iommu");
	add(as, H_FD, fd, "/dev/iommu");
	jw_ki64(w, "fd", fd);
	return 0;
}

static int op_ioas_alloc(const struct jv *a, struct jw *w)
{
	struct handle *i = NULL;
	const char *as = NULL;
	if (arg_handle(a, "iommufd", H_FD, &i) < 0 || arg_as(a, &as) < 0) return -1;
	struct lu_iommu_ioas_alloc r = { sizeof r, 0, 0 };
	if (ioctl(i->fd, LU_IOMMU_IOAS_ALLOC, &r) < 0) return ioctl_fail("IOMMU_IOAS_ALLOC", i->what, errno, NULL);
	struct handle *h = add(as, H_ID, i->fd, "ioas %u", r.out_ioas_id);
	h->id = r.out_ioas_id;
	jw_ku64(w, "id", r.out_ioas_id);
	return 0;
}

static int ioas_flags(const struct jv *a, uint32_t *flags, int fixed)
{
	uint32_t vf;
	int live = 0;
	if (map_flags(a, &vf, &live) < 0) return -1;
	if (live) return bad("live_update is a VFIO container flag; iommufd mappings take read and write");
	*flags = (fixed ? LU_IOMMU_IOAS_MAP_FIXED_IOVA : 0) | ((vf & LU_VFIO_DMA_MAP_FLAG_READ) ? LU_IOMMU_IOAS_MAP_READABLE : 0) |
		 ((vf & LU_VFIO_DMA_MAP_FLAG_WRITE) ? LU_IOMMU_IOAS_MAP_WRITEABLE : 0);
	return 0;
}

static int op_ioas_map(const struct jv *a, struct jw *w)
{
	struct handle *io = NULL, *b = NULL;
	uint64_t iova = 0, size = 0;
	uint32_t flags = 0;
	int fixed = json_get(a, "iova") != NULL;
	if (arg_handle(a, "ioas", H_ID, &io) < 0 || arg_handle(a, "buffer", H_BUF, &b) < 0 || arg_u64(a, "iova", &iova, 0, 0) < 0 ||
	    arg_u64(a, "size", &size, 0, b->size) < 0 || ioas_flags(a, &flags, fixed) < 0)
		return -1;
	if (size == 0 || size > b->size) return bad("field \"size\" must be between 1 and the buffer's %llu bytes", (unsigned long long)b->size);
	struct lu_iommu_ioas_map m = { sizeof m, flags, io->id, 0, (uint64_t)(uintptr_t)b->ptr, size, iova };
	if (ioctl(io->fd, LU_IOMMU_IOAS_MAP, &m) < 0) return ioctl_fail("IOMMU_IOAS_MAP", io->what, errno, NULL);
	jw_ku64(w, "iova", m.iova);
	jw_ku64(w, "size", size);
	return 0;
}

static int op_ioas_map_file(const struct jv *a, struct jw *w)
{
	struct handle *io = NULL, *f = NULL;
	uint64_t iova = 0, size = 0, start = 0;
	uint32_t flags = 0;
	int fixed = json_get(a, "iova") != NULL;
	if (arg_handle(a, "ioas", H_ID, &io) < 0 || arg_handle(a, "file", H_FD, &f) < 0 || arg_u64(a, "iova", &iova, 0, 0) < 0 ||
	    arg_u64(a, "size", &size, 1, 0) < 0 || arg_u64(a, "start", &start, 0, 0) < 0 || ioas_flags(a, &flags, fixed) < 0)
		return -1;
	struct lu_iommu_ioas_map_file m = { sizeof m, flags, io->id, f->fd, start, size, iova };
	if (ioctl(io->fd, LU_IOMMU_IOAS_MAP_FILE, &m) < 0) return ioctl_fail("IOMMU_IOAS_MAP_FILE", io->what, errno, "it needs Linux 6.13+");
	jw_ku64(w, "iova", m.iova);
	jw_ku64(w, "size", size);
	return 0;
}

static int op_ioas_unmap(const struct jv *a, struct jw *w)
{
	struct handle *io = NULL;
	uint64_t iova = 0, size = 0;
	if (arg_handle(a, "ioas", H_ID, &io) < 0 || arg_u64(a, "iova", &iova, 1, 0) < 0 || arg_u64(a, "size", &size, 1, 0) < 0) return -1;
	struct lu_iommu_ioas_unmap u = { sizeof u, io->id, iova, size };
	if (ioctl(io->fd, LU_IOMMU_IOAS_UNMAP, &u) < 0) return ioctl_fail("IOMMU_IOAS_UNMAP", io->what, errno, NULL);
	jw_ku64(w, "unmapped", u.length);
	return 0;
}

static int op_vfio_cdev_open(const struct jv *a, struct jw *w)
{
	const char *dev = NULL, *as = NULL;
	if (arg_str(a, "device", &dev, NULL) < 0 || arg_as(a, &as) < 0) return -1;
	if (!valid_bdf(dev)) return bad("field \"device\" must be a PCI address like 0000:00:03.0");
	char dir[128];
	snprintf(dir, sizeof dir, "/sys/bus/pci/devices/%s/vfio-dev", dev);
	DIR *d = opendir(dir);
	if (!d) {
		char drv[160], link[256] = "";
		snprintf(drv, sizeof drv, "/sys/bus/pci/devices/%s/driver", dev);
		ssize_t n = readlink(drv, link, sizeof link - 1);
		if (n > 0) link[n] = 0;
		const char *bound = n > 0 ? strrchr(link, '/') + 1 : NULL;
		if (bound && !strcmp(bound, "vfio-pci"))
			return fail("not-supported", ENOENT, "%s is bound to vfio-pci but has no VFIO cdev: not supported by this kernel (CONFIG_VFIO_DEVICE_CDEV, Linux 6.6+)", dev);
		return fail("not-found", ENOENT, "%s has no VFIO cdev: bind it to vfio-pci first (it is %s)", dev, bound ? bound : "bound to no driver");
	}
	struct dirent *e;
	char path[300] = "";
	while ((e = readdir(d)))
		if (!strncmp(e->d_name, "vfio", 4)) snprintf(path, sizeof path, "/dev/vfio/devices/%s", e->d_name);
	closedir(d);
	if (!path[0]) return fail("not-found", ENOENT, "%s: no vfioN under %s", dev, dir);
	int fd = open(path, O_RDWR | O_CLOEXEC);
	if (fd < 0) {
		if (errno == EBUSY) return busy_fail(path, "the device is open in another process");
		/* since 6.1 sysfs lists vfio-dev/vfioN; the character device itself came with 6.6 */
		if (errno == ENOENT)
			return fail("not-supported", errno, "%s is bound to vfio-pci but has no VFIO cdev (%s is missing): not supported by this kernel (CONFIG_VFIO_DEVICE_CDEV, Linux 6.6+)", dev, path);
		return sys_fail(errno, "open %s", path);
	}
	add(as, H_FD, fd, "%s (%s)", path, dev);
	jw_kstr(w, "cdev", path);
	jw_ki64(w, "fd", fd);
	return 0;
}

static int op_vfio_cdev_bind(const struct jv *a, struct jw *w)
{
	struct handle *d = NULL, *i = NULL;
	if (arg_handle(a, "device", H_FD, &d) < 0 || arg_handle(a, "iommufd", H_FD, &i) < 0) return -1;
	struct lu_vfio_device_bind_iommufd b = { 16, 0, i->fd, 0, 0 };
	if (ioctl(d->fd, LU_VFIO_DEVICE_BIND_IOMMUFD, &b) < 0) return ioctl_fail("VFIO_DEVICE_BIND_IOMMUFD", d->what, errno, NULL);
	d->id = b.out_devid;
	jw_ku64(w, "devid", b.out_devid);
	return device_info(d->fd, d->what, w);
}

static int attach(const struct jv *a, struct jw *w, const char *name)
{
	struct handle *d = NULL, *pt = NULL;
	if (arg_handle(a, "device", H_FD, &d) < 0 || arg_handle(a, "pt", H_ID, &pt) < 0) return -1;
	struct lu_vfio_device_attach_iommufd_pt at = { 12, 0, pt->id, 0 };
	if (ioctl(d->fd, LU_VFIO_DEVICE_ATTACH_IOMMUFD_PT, &at) < 0) return ioctl_fail(name, d->what, errno, NULL);
	jw_ku64(w, "ptId", at.pt_id);
	return 0;
}

static int op_vfio_cdev_attach(const struct jv *a, struct jw *w) { return attach(a, w, "VFIO_DEVICE_ATTACH_IOMMUFD_PT"); }

/* Attaching an attached device to another page table replaces it without a window of no translation. */
static int op_vfio_cdev_replace(const struct jv *a, struct jw *w)
{
	if (attach(a, w, "VFIO_DEVICE_ATTACH_IOMMUFD_PT (replace)") < 0) return -1;
	jw_kbool(w, "replaced", 1);
	return 0;
}

static int op_vfio_cdev_detach(const struct jv *a, struct jw *w)
{
	struct handle *d = NULL;
	if (arg_handle(a, "device", H_FD, &d) < 0) return -1;
	struct lu_vfio_device_detach_iommufd_pt de = { 8, 0, 0 };
	if (ioctl(d->fd, LU_VFIO_DEVICE_DETACH_IOMMUFD_PT, &de) < 0) return ioctl_fail("VFIO_DEVICE_DETACH_IOMMUFD_PT", d->what, errno, NULL);
	jw_kbool(w, "detached", 1);
	return 0;
}

static int op_hwpt_alloc(const struct jv *a, struct jw *w)
{
	struct handle *d = NULL, *pt = NULL;
	const char *as = NULL;
	if (arg_handle(a, "device", H_FD, &d) < 0 || arg_handle(a, "pt", H_ID, &pt) < 0 || arg_as(a, &as) < 0) return -1;
	if (!d->id) return bad("field \"device\": bind it to the iommufd first (vfio.cdev.bind)");
	struct lu_iommu_hwpt_alloc h = { 24, 0, d->id, pt->id, 0, 0, 0, 0, 0, 0, 0 };
	if (ioctl(pt->fd, LU_IOMMU_HWPT_ALLOC, &h) < 0) return ioctl_fail("IOMMU_HWPT_ALLOC", pt->what, errno, NULL);
	struct handle *n = add(as, H_ID, pt->fd, "hwpt %u", h.out_hwpt_id);
	n->id = h.out_hwpt_id;
	jw_ku64(w, "id", h.out_hwpt_id);
	return 0;
}

static int op_iommufd_destroy(const struct jv *a, struct jw *w)
{
	struct handle *x = NULL;
	if (arg_handle(a, "id", H_ID, &x) < 0) return -1;
	struct lu_iommu_destroy d = { sizeof d, x->id };
	if (ioctl(x->fd, LU_IOMMU_DESTROY, &d) < 0) return ioctl_fail("IOMMU_DESTROY", x->what, errno, NULL);
	x->name[0] = 0;
	jw_kbool(w, "destroyed", 1);
	return 0;
}

/* ---- LUO ---- */

static int op_luo_open(const struct jv *a, struct jw *w)
{
	const char *as = NULL, *path = NULL;
	if (arg_as(a, &as) < 0 || arg_str(a, "path", &path, "/dev/liveupdate") < 0) return -1;
	int fd = open_dev(path, O_RDWR, "this kernel has no LUO: not supported by this kernel (Linux 6.19+ with CONFIG_LIVEUPDATE, booted with kho=on liveupdate=on)");
	if (fd == -1) return -1;
	if (fd < 0) {
		int e = -fd - 1;
		if (e == EBUSY) return busy_fail(path, "only one process may hold it (luod, systemd or another holder?)");
		return sys_fail(e, "open %s", path);
	}
	add(as, H_FD, fd, "%s", path);
	jw_ki64(w, "fd", fd);
	return 0;
}

static int session_name(const struct jv *a, const char **name)
{
	if (arg_str(a, "name", name, NULL) < 0) return -1;
	size_t n = strlen(*name);
	if (n == 0 || n >= LU_LIVEUPDATE_SESSION_NAME_LENGTH) return bad("field \"name\": a LUO session name is 1 to %d bytes", LU_LIVEUPDATE_SESSION_NAME_LENGTH - 1);
	return 0;
}

static int luo_session(const struct jv *a, struct jw *w, unsigned long req, const char *ioname)
{
	struct handle *l = NULL;
	const char *name = NULL, *as = NULL;
	if (arg_handle(a, "luo", H_FD, &l) < 0 || session_name(a, &name) < 0 || arg_as(a, &as) < 0) return -1;
	struct lu_liveupdate_session s = { sizeof s, -1, { 0 } };
	memcpy(s.name, name, strlen(name));
	if (ioctl(l->fd, req, &s) < 0) {
		int e = errno;
		/* 7.2 answers ENOENT for a name it never had, EINVAL once the incoming sessions were finished */
		if (req == LU_LIVEUPDATE_IOCTL_RETRIEVE_SESSION && (e == ENOENT || e == EINVAL))
			return fail("not-found", e, "LUO session \"%s\" cannot be retrieved (%s): it was never preserved, its holder exited before the kexec, or it was already retrieved and finished", name, ename(e));
		if (req == LU_LIVEUPDATE_IOCTL_CREATE_SESSION && e == EEXIST) return fail("busy", e, "LUO session \"%s\" already exists", name);
		return ioctl_fail(ioname, l->what, e, NULL);
	}
	fcntl(s.fd, F_SETFD, FD_CLOEXEC);
	add(as, H_FD, s.fd, "LUO session %s", name);
	jw_kstr(w, "session", name);
	jw_ki64(w, "fd", s.fd);
	return 0;
}

static int op_luo_session_create(const struct jv *a, struct jw *w) { return luo_session(a, w, LU_LIVEUPDATE_IOCTL_CREATE_SESSION, "LIVEUPDATE_IOCTL_CREATE_SESSION"); }
static int op_luo_session_retrieve(const struct jv *a, struct jw *w) { return luo_session(a, w, LU_LIVEUPDATE_IOCTL_RETRIEVE_SESSION, "LIVEUPDATE_IOCTL_RETRIEVE_SESSION"); }

static int op_luo_preserve(const struct jv *a, struct jw *w)
{
	struct handle *s = NULL, *f = NULL;
	uint64_t token = 0;
	if (arg_handle(a, "session", H_FD, &s) < 0 || arg_handle(a, "fd", H_FD, &f) < 0 || arg_u64(a, "token", &token, 1, 0) < 0) return -1;
	struct lu_liveupdate_session_fd p = { sizeof p, f->fd, token };
	if (ioctl(s->fd, LU_LIVEUPDATE_SESSION_PRESERVE_FD, &p) < 0) return ioctl_fail("LIVEUPDATE_SESSION_PRESERVE_FD", s->what, errno, NULL);
	jw_ku64(w, "token", token);
	return 0;
}

static int op_luo_retrieve_fd(const struct jv *a, struct jw *w)
{
	struct handle *s = NULL;
	uint64_t token = 0;
	const char *as = NULL;
	if (arg_handle(a, "session", H_FD, &s) < 0 || arg_u64(a, "token", &token, 1, 0) < 0 || arg_as(a, &as) < 0) return -1;
	struct lu_liveupdate_session_fd r = { sizeof r, -1, token };
	if (ioctl(s->fd, LU_LIVEUPDATE_SESSION_RETRIEVE_FD, &r) < 0) {
		int e = errno;
		if (e == ENOENT) return fail("not-found", e, "%s has no fd with token %llu (never preserved, or already retrieved)", s->what, (unsigned long long)token);
		return ioctl_fail("LIVEUPDATE_SESSION_RETRIEVE_FD", s->what, e, NULL);
	}
	struct stat st;
	struct handle *h = add(as, H_FD, r.fd, "fd %llu of %s", (unsigned long long)token, s->what);
	if (fstat(r.fd, &st) == 0) h->size = (uint64_t)st.st_size;
	jw_ki64(w, "fd", r.fd);
	jw_ku64(w, "size", h->size);
	return 0;
}

static int op_luo_finish(const struct jv *a, struct jw *w)
{
	struct handle *s = NULL;
	if (arg_handle(a, "session", H_FD, &s) < 0) return -1;
	struct lu_liveupdate_session_finish f = { sizeof f, 0 };
	if (ioctl(s->fd, LU_LIVEUPDATE_SESSION_FINISH, &f) < 0) return ioctl_fail("LIVEUPDATE_SESSION_FINISH", s->what, errno, NULL);
	jw_kbool(w, "finished", 1);
	return 0;
}

/* The holder of LUO sessions performs the kexec itself, so its fds are open at the jump. */
static int op_kexec(const struct jv *a, struct jw *w)
{
	(void)w;
	const char *confirm = NULL;
	if (arg_str(a, "confirm", &confirm, NULL) < 0 || strcmp(confirm, "kexec")) return bad("kexec needs \"confirm\":\"kexec\"");
	sync();
	reboot(LINUX_REBOOT_CMD_KEXEC);
	int e = errno;
	if (e == EINVAL) return fail("invalid", e, "reboot(LINUX_REBOOT_CMD_KEXEC): no kernel is staged (kexec -s -l first)");
	return sys_fail(e, "reboot(LINUX_REBOOT_CMD_KEXEC)");
}

static const struct {
	const char *name;
	op_fn fn;
} OPS[] = {
	{ "probe", op_probe },
	{ "open", op_open },
	{ "close", op_close },
	{ "buffer.alloc", op_buffer_alloc },
	{ "buffer.file", op_buffer_file },
	{ "memfd.create", op_memfd_create },
	{ "vfio.container.open", op_vfio_container_open },
	{ "vfio.group.open", op_vfio_group_open },
	{ "vfio.group.set_container", op_vfio_group_set_container },
	{ "vfio.group.device", op_vfio_group_device },
	{ "vfio.set_iommu", op_vfio_set_iommu },
	{ "vfio.set_persistent_pgtables", op_vfio_set_persistent_pgtables },
	{ "vfio.dma.map", op_vfio_dma_map },
	{ "vfio.dma.unmap", op_vfio_dma_unmap },
	{ "iommufd.open", op_iommufd_open },
	{ "iommufd.ioas.alloc", op_ioas_alloc },
	{ "iommufd.ioas.map", op_ioas_map },
	{ "iommufd.ioas.map_file", op_ioas_map_file },
	{ "iommufd.ioas.unmap", op_ioas_unmap },
	{ "iommufd.hwpt.alloc", op_hwpt_alloc },
	{ "iommufd.destroy", op_iommufd_destroy },
	{ "vfio.cdev.open", op_vfio_cdev_open },
	{ "vfio.cdev.bind", op_vfio_cdev_bind },
	{ "vfio.cdev.attach", op_vfio_cdev_attach },
	{ "vfio.cdev.replace", op_vfio_cdev_replace },
	{ "vfio.cdev.detach", op_vfio_cdev_detach },
	{ "luo.open", op_luo_open },
	{ "luo.session.create", op_luo_session_create },
	{ "luo.session.retrieve", op_luo_session_retrieve },
	{ "luo.preserve", op_luo_preserve },
	{ "luo.retrieve_fd", op_luo_retrieve_fd },
	{ "luo.finish", op_luo_finish },
	{ "kexec", op_kexec },
};

/* Runs one op into the results array; -1 with E set on failure. */
static int run_op(const struct jv *op, struct jw *w, const char **opname)
{
	*opname = "request";
	if (op->t != J_OBJ) return bad("each op must be an object");
	const char *name = NULL;
	if (arg_str(op, "op", &name, NULL) < 0) return -1;
	*opname = name;
	for (size_t i = 0; i < sizeof OPS / sizeof OPS[0]; i++) {
		if (strcmp(OPS[i].name, name)) continue;
		/* written aside: a failed op leaves nothing in the results, only the error */
		struct jw one;
		jw_init(&one);
		jw_obj(&one);
		jw_kstr(&one, "op", name);
		int r = OPS[i].fn(op, &one);
		jw_end_obj(&one);
		if (r == 0) jw_raw(w, one.buf, one.len);
		jw_free(&one);
		return r;
	}
	return bad("unknown op \"%s\"", name);
}

static void write_error(struct jw *w, const char *op, long index)
{
	jw_key(w, "error");
	jw_obj(w);
	jw_kstr(w, "op", op);
	if (index >= 0) jw_ki64(w, "index", index);
	jw_ki64(w, "errno", E.eno);
	jw_kstr(w, "errnoName", E.eno ? ename(E.eno) : "");
	jw_kstr(w, "code", E.code);
	jw_kstr(w, "message", E.message);
	jw_end_obj(w);
}

static void write_handles(struct jw *w)
{
	jw_key(w, "handles");
	jw_obj(w);
	for (int i = 0; i < nhandles; i++) {
		struct handle *h = &handles[i];
		if (!h->name[0]) continue;
		jw_key(w, h->name);
		jw_obj(w);
		jw_kstr(w, "kind", kind_name[h->kind]);
		if (h->kind == H_FD) jw_ki64(w, "fd", h->fd);
		if (h->kind == H_ID) jw_ku64(w, "id", h->id);
		if (h->size) jw_ku64(w, "size", h->size);
		jw_kstr(w, "what", h->what);
		jw_end_obj(w);
	}
	jw_end_obj(w);
}

/* ---- hold: a daemon keeping the handles, answering on a unix socket ---- */

static int send_fd(int sock, const char *line, int fd)
{
	struct iovec iov = { (void *)line, strlen(line) };
	char cbuf[CMSG_SPACE(sizeof(int))];
	struct msghdr m = { 0 };
	m.msg_iov = &iov;
	m.msg_iovlen = 1;
	if (fd >= 0) {
		memset(cbuf, 0, sizeof cbuf);
		m.msg_control = cbuf;
		m.msg_controllen = sizeof cbuf;
		struct cmsghdr *c = CMSG_FIRSTHDR(&m);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(c), &fd, sizeof fd);
	}
	return sendmsg(sock, &m, MSG_NOSIGNAL) < 0 ? -1 : 0;
}

static void serve(int lsock, const char *sockpath)
{
	for (;;) {
		int c = accept4(lsock, NULL, NULL, SOCK_CLOEXEC);
		if (c < 0) {
			if (errno == EINTR) continue;
			break;
		}
		char buf[65536];
		size_t len = 0;
		while (len < sizeof buf - 1) {
			ssize_t n = read(c, buf + len, sizeof buf - 1 - len);
			if (n <= 0) break;
			len += (size_t)n;
			if (memchr(buf, '\n', len)) break;
		}
		buf[len] = 0;
		struct jw w;
		jw_init(&w);
		jw_obj(&w);
		struct jv req;
		char perr[200];
		int passfd = -1, quit = 0;
		if (json_parse(buf, strcspn(buf, "\n"), &req, perr, sizeof perr) < 0) {
			jw_kbool(&w, "ok", 0);
			bad("malformed request: %s", perr);
			write_error(&w, "request", -1);
		} else {
			const struct jv *opv = json_get(&req, "op");
			const char *op = opv && opv->t == J_STR ? opv->s : "";
			if (!strcmp(op, "status")) {
				jw_kbool(&w, "ok", 1);
				jw_ki64(&w, "pid", getpid());
				jw_kstr(&w, "socket", sockpath);
				write_handles(&w);
			} else if (!strcmp(op, "fd")) {
				struct handle *h = NULL;
				if (arg_handle(&req, "name", H_FD, &h) < 0) {
					jw_kbool(&w, "ok", 0);
					write_error(&w, "fd", -1);
				} else {
					jw_kbool(&w, "ok", 1);
					jw_ki64(&w, "fd", h->fd);
					passfd = h->fd;
				}
			} else if (!strcmp(op, "exit")) {
				jw_kbool(&w, "ok", 1);
				quit = 1;
			} else {
				struct jw r;
				jw_init(&r);
				jw_arr(&r);
				const char *name = NULL;
				int rc = run_op(&req, &r, &name);
				jw_end_arr(&r);
				jw_kbool(&w, "ok", rc == 0);
				jw_key(&w, "results");
				jw_raw(&w, r.buf, r.len);
				jw_free(&r);
				if (rc < 0) write_error(&w, name, 0);
			}
			json_free(&req);
		}
		jw_end_obj(&w);
		char *line = malloc(w.len + 2);
		if (line) {
			memcpy(line, w.buf, w.len);
			line[w.len] = '\n';
			line[w.len + 1] = 0;
			send_fd(c, line, passfd);
			free(line);
		}
		jw_free(&w);
		close(c);
		if (quit) break;
	}
	unlink(sockpath);
}

/* Forks the holder; the parent reports its pid and exits once the socket is listening. */
static int hold(const struct jv *spec, struct jw *w)
{
	const char *sockpath = NULL;
	if (spec->t != J_OBJ) return bad("\"then\".hold must be an object with a \"socket\" path");
	if (arg_str(spec, "socket", &sockpath, NULL) < 0) return -1;
	struct sockaddr_un addr = { .sun_family = AF_UNIX };
	if (strlen(sockpath) >= sizeof addr.sun_path) return bad("\"socket\" path is longer than %zu bytes", sizeof addr.sun_path - 1);
	strcpy(addr.sun_path, sockpath);
	int s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (s < 0) return sys_fail(errno, "socket");
	/* a live holder on this path must not be replaced */
	if (connect(s, (struct sockaddr *)&addr, sizeof addr) == 0) {
		close(s);
		return fail("busy", EADDRINUSE, "a holder already answers on %s", sockpath);
	}
	unlink(sockpath);
	if (bind(s, (struct sockaddr *)&addr, sizeof addr) < 0 || listen(s, 8) < 0) {
		int e = errno;
		close(s);
		return sys_fail(e, "listen on %s", sockpath);
	}
	chmod(sockpath, 0600);
	pid_t pid = fork();
	if (pid < 0) return sys_fail(errno, "fork");
	if (pid == 0) {
		setsid();
		signal(SIGHUP, SIG_IGN);
		signal(SIGPIPE, SIG_IGN);
		int nul = open("/dev/null", O_RDWR);
		if (nul >= 0) {
			dup2(nul, 0);
			dup2(nul, 1);
			dup2(nul, 2);
			if (nul > 2) close(nul);
		}
		serve(s, sockpath);
		_exit(0);
	}
	close(s);
	jw_key(w, "hold");
	jw_obj(w);
	jw_ki64(w, "pid", pid);
	jw_kstr(w, "socket", sockpath);
	jw_end_obj(w);
	return 0;
}

static int exec_vmm(const struct jv *argv, struct jw *w, char ***out)
{
	if (argv->t != J_ARR || argv->n == 0 || argv->n > 4096) return bad("\"then\".exec must be a non-empty argv list");
	char **av = calloc(argv->n + 1, sizeof *av);
	if (!av) return fail("failed", ENOMEM, "out of memory");
	for (size_t i = 0; i < argv->n; i++) {
		if (argv->items[i].t != J_STR) return bad("\"then\".exec: every argv word must be a string");
		const char *s = argv->items[i].s;
		/* {fd:NAME} becomes the number of the handle's fd, which the VMM inherits */
		size_t cap = strlen(s) + 64;
		char *o = malloc(cap);
		if (!o) return fail("failed", ENOMEM, "out of memory");
		size_t n = 0;
		while (*s) {
			if (!strncmp(s, "{fd:", 4)) {
				const char *end = strchr(s, '}');
				if (!end) return bad("\"then\".exec: unterminated {fd:NAME}");
				char name[40];
				size_t l = (size_t)(end - s - 4);
				if (l >= sizeof name) return bad("\"then\".exec: handle name too long");
				memcpy(name, s + 4, l);
				name[l] = 0;
				struct handle *h = find(name);
				if (!h || h->kind != H_FD) return bad("\"then\".exec: no fd handle \"%s\"", name);
				fcntl(h->fd, F_SETFD, 0);
				if (n + 16 > cap) return bad("\"then\".exec: word too long");
				n += (size_t)snprintf(o + n, cap - n, "%d", h->fd);
				s = end + 1;
			} else {
				if (n + 2 > cap) return bad("\"then\".exec: word too long");
				o[n++] = *s++;
			}
		}
		o[n] = 0;
		av[i] = o;
	}
	jw_key(w, "exec");
	jw_arr(w);
	for (size_t i = 0; i < argv->n; i++) jw_str(w, av[i]);
	jw_end_arr(w);
	*out = av;
	return 0;
}

int main(int argc, char **argv)
{
	if (argc > 1 && (!strcmp(argv[1], "--version") || !strcmp(argv[1], "-V"))) {
		printf("{\"helper\":\"lu-helper\",\"protocol\":%d}\n", HELPER_PROTOCOL);
		return 0;
	}
	if (argc > 1) {
		fprintf(stderr, "usage: lu-helper < request.json   (one JSON request on stdin, one JSON result on stdout)\n");
		return 2;
	}
	signal(SIGPIPE, SIG_IGN);
	char *buf = malloc(MAX_REQUEST + 1);
	size_t len = 0;
	ssize_t n;
	while (buf && len <= MAX_REQUEST && (n = read(0, buf + len, MAX_REQUEST + 1 - len)) > 0) len += (size_t)n;
	struct jw w;
	jw_init(&w);
	jw_obj(&w);
	struct jv req;
	char perr[200];
	int rc = 0;
	char **exec_argv = NULL;
	if (!buf) {
		rc = 1;
		jw_kbool(&w, "ok", 0);
		fail("failed", ENOMEM, "out of memory");
		write_error(&w, "request", -1);
	} else if (len > MAX_REQUEST) {
		rc = 2;
		jw_kbool(&w, "ok", 0);
		bad("request larger than %d bytes", MAX_REQUEST);
		write_error(&w, "request", -1);
	} else if (json_parse(buf, len, &req, perr, sizeof perr) < 0) {
		rc = 2;
		jw_kbool(&w, "ok", 0);
		bad("malformed request: %s", perr);
		write_error(&w, "request", -1);
	} else if (req.t != J_OBJ) {
		rc = 2;
		jw_kbool(&w, "ok", 0);
		bad("the request must be a JSON object: {\"op\":...} or {\"ops\":[...]}");
		write_error(&w, "request", -1);
		json_free(&req);
	} else {
		const struct jv *ops = json_get(&req, "ops");
		const struct jv *then = json_get(&req, "then");
		struct jw r;
		jw_init(&r);
		jw_arr(&r);
		const char *failed_op = NULL;
		long failed_at = -1;
		if (ops && json_get(&req, "op")) {
			bad("a request has \"op\" or \"ops\", not both");
			failed_op = "request";
		} else if (ops && (ops->t != J_ARR || ops->n == 0)) {
			bad("\"ops\" must be a non-empty list");
			failed_op = "request";
		} else if (!ops && then) {
			bad("\"then\" needs \"ops\"");
			failed_op = "request";
		} else if (ops) {
			for (size_t i = 0; i < ops->n; i++) {
				const char *name = NULL;
				if (run_op(&ops->items[i], &r, &name) < 0) { failed_op = name; failed_at = (long)i; break; }
			}
		} else {
			const char *name = NULL;
			if (run_op(&req, &r, &name) < 0) { failed_op = name; failed_at = 0; }
		}
		jw_end_arr(&r);
		struct jw t;
		jw_init(&t);
		jw_obj(&t);
		if (!failed_op && then) {
			const struct jv *h = json_get(then, "hold"), *x = json_get(then, "exec");
			if (then->t != J_OBJ || (!h) == (!x)) {
				bad("\"then\" must be {\"hold\":{...}} or {\"exec\":[...]}");
				failed_op = "then";
			} else if (h ? hold(h, &t) < 0 : exec_vmm(x, &t, &exec_argv) < 0) {
				failed_op = "then";
			}
		}
		jw_end_obj(&t);
		jw_kbool(&w, "ok", failed_op == NULL);
		jw_kstr(&w, "helper", "lu-helper");
		jw_ki64(&w, "protocol", HELPER_PROTOCOL);
		jw_key(&w, "results");
		jw_raw(&w, r.buf, r.len);
		jw_free(&r);
		if (!failed_op && then) {
			jw_key(&w, "then");
			jw_raw(&w, t.buf, t.len);
		}
		jw_free(&t);
		if (!failed_op) write_handles(&w);
		if (failed_op) {
			rc = !strcmp(E.code, "bad-request") ? 2 : 1;
			write_error(&w, failed_op, failed_at);
		}
		json_free(&req);
	}
	jw_end_obj(&w);
	fputs(w.buf, stdout);
	fputc('\n', stdout);
	fflush(stdout);
	if (exec_argv && rc == 0) {
		execvp(exec_argv[0], exec_argv);
		fprintf(stderr, "lu-helper: exec %s: %s\n", exec_argv[0], strerror(errno));
		return 127;
	}
	return rc;
}
