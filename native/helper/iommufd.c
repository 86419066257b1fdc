/* lu-helper: iommufd (IOAS, HWPT) and the VFIO cdev ops. */
#include "helper.h"

int op_iommufd_open(const struct jv *a, struct jw *w)
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

int op_ioas_alloc(const struct jv *a, struct jw *w)
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

int op_ioas_map(const struct jv *a, struct jw *w)
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

int op_ioas_map_file(const struct jv *a, struct jw *w)
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

int op_ioas_unmap(const struct jv *a, struct jw *w)
{
	struct handle *io = NULL;
	uint64_t iova = 0, size = 0;
	if (arg_handle(a, "ioas", H_ID, &io) < 0 || arg_u64(a, "iova", &iova, 1, 0) < 0 || arg_u64(a, "size", &size, 1, 0) < 0) return -1;
	struct lu_iommu_ioas_unmap u = { sizeof u, io->id, iova, size };
	if (ioctl(io->fd, LU_IOMMU_IOAS_UNMAP, &u) < 0) return ioctl_fail("IOMMU_IOAS_UNMAP", io->what, errno, NULL);
	jw_ku64(w, "unmapped", u.length);
	return 0;
}

int op_vfio_cdev_open(const struct jv *a, struct jw *w)
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

int op_vfio_cdev_bind(const struct jv *a, struct jw *w)
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

int op_vfio_cdev_attach(const struct jv *a, struct jw *w) { return attach(a, w, "VFIO_DEVICE_ATTACH_IOMMUFD_PT"); }

/* Attaching an attached device to another page table replaces it without a window of no translation. */
int op_vfio_cdev_replace(const struct jv *a, struct jw *w)
{
	if (attach(a, w, "VFIO_DEVICE_ATTACH_IOMMUFD_PT (replace)") < 0) return -1;
	jw_kbool(w, "replaced", 1);
	return 0;
}

int op_vfio_cdev_detach(const struct jv *a, struct jw *w)
{
	struct handle *d = NULL;
	if (arg_handle(a, "device", H_FD, &d) < 0) return -1;
	struct lu_vfio_device_detach_iommufd_pt de = { 8, 0, 0 };
	if (ioctl(d->fd, LU_VFIO_DEVICE_DETACH_IOMMUFD_PT, &de) < 0) return ioctl_fail("VFIO_DEVICE_DETACH_IOMMUFD_PT", d->what, errno, NULL);
	jw_kbool(w, "detached", 1);
	return 0;
}

int op_hwpt_alloc(const struct jv *a, struct jw *w)
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

int op_iommufd_destroy(const struct jv *a, struct jw *w)
{
	struct handle *x = NULL;
	if (arg_handle(a, "id", H_ID, &x) < 0) return -1;
	struct lu_iommu_destroy d = { sizeof d, x->id };
	if (ioctl(x->fd, LU_IOMMU_DESTROY, &d) < 0) return ioctl_fail("IOMMU_DESTROY", x->what, errno, NULL);
	x->name[0] = 0;
	jw_kbool(w, "destroyed", 1);
	return 0;
}
