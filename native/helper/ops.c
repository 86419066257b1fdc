/* lu-helper: the basic ops (probe, open, close, buffers, memfds). */
#include "helper.h"

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

int op_probe(const struct jv *a, struct jw *w)
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

int op_open(const struct jv *a, struct jw *w)
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

int op_close(const struct jv *a, struct jw *w)
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

int op_buffer_alloc(const struct jv *a, struct jw *w)
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
int op_buffer_file(const struct jv *a, struct jw *w)
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

int op_memfd_create(const struct jv *a, struct jw *w)
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
