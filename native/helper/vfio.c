/* lu-helper: the VFIO container (type1) ops, with the pkernfs RFC's persistent page tables. */
#include "helper.h"

int op_vfio_container_open(const struct jv *a, struct jw *w)
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

int valid_bdf(const char *s)
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

int op_vfio_group_open(const struct jv *a, struct jw *w)
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

int op_vfio_group_set_container(const struct jv *a, struct jw *w)
{
	struct handle *g = NULL, *c = NULL;
	if (arg_handle(a, "group", H_FD, &g) < 0 || arg_handle(a, "container", H_FD, &c) < 0) return -1;
	if (ioctl(g->fd, LU_VFIO_GROUP_SET_CONTAINER, &c->fd) < 0) return ioctl_fail("VFIO_GROUP_SET_CONTAINER", g->what, errno, NULL);
	jw_kbool(w, "containerSet", 1);
	return 0;
}

int op_vfio_set_iommu(const struct jv *a, struct jw *w)
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

int op_vfio_set_persistent_pgtables(const struct jv *a, struct jw *w)
{
	struct handle *c = NULL, *f = NULL;
	if (arg_handle(a, "container", H_FD, &c) < 0 || arg_handle(a, "file", H_FD, &f) < 0) return -1;
	struct lu_vfio_set_persistent_pgtables p = { (uint32_t)f->fd };
	if (ioctl(c->fd, LU_VFIO_CONTAINER_SET_PERSISTENT_PGTABLES, &p) < 0)
		return ioctl_fail("VFIO_CONTAINER_SET_PERSISTENT_PGTABLES", c->what, errno, "it needs the pkernfs RFC kernel");
	jw_kstr(w, "pgtables", f->what);
	return 0;
}

int map_flags(const struct jv *a, uint32_t *flags, int *live)
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

int op_vfio_dma_map(const struct jv *a, struct jw *w)
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

int op_vfio_dma_unmap(const struct jv *a, struct jw *w)
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

int device_info(int fd, const char *what, struct jw *w)
{
	struct lu_vfio_device_info i = { sizeof i, 0, 0, 0, 0, 0 };
	if (ioctl(fd, LU_VFIO_DEVICE_GET_INFO, &i) < 0) return ioctl_fail("VFIO_DEVICE_GET_INFO", what, errno, NULL);
	jw_kbool(w, "pci", (i.flags & LU_VFIO_DEVICE_FLAGS_PCI) != 0);
	jw_ku64(w, "regions", i.num_regions);
	jw_ku64(w, "irqs", i.num_irqs);
	return 0;
}

int op_vfio_group_device(const struct jv *a, struct jw *w)
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
