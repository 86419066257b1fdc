/*
 * Compile-time proof that uapi.h matches the kernel's uAPI: every ioctl number, flag and struct
 * layout is asserted equal to the system's <linux/...> headers where they have it, and to numbers
 * derived by hand (_IO(type, nr) = type << 8 | nr) where no header has it (pkernfs; LUO and iommufd
 * on older headers). Build with -I pointing at newer headers (e.g. Debian sid's linux-libc-dev,
 * unpacked) to check more. Running it prints which families were checked against headers.
 */
#include <stddef.h>
#include <stdio.h>
#include <linux/vfio.h>
#include "uapi.h"

#define SAME(a, b) _Static_assert((a) == (b), #a " == " #b)
#define FIELD(ours, theirs, fo, ft)                                                                  \
	_Static_assert(offsetof(struct ours, fo) == offsetof(struct theirs, ft) &&                       \
			       sizeof(((struct ours *)0)->fo) == sizeof(((struct theirs *)0)->ft),       \
		       #ours "." #fo " is laid out as " #theirs "." #ft)

/* ---- derived by hand: these hold whatever headers are installed ---- */
SAME(LU_VFIO_GET_API_VERSION, 0x3b64);
SAME(LU_VFIO_SET_IOMMU, 0x3b66);
SAME(LU_VFIO_IOMMU_MAP_DMA, 0x3b71);
SAME(LU_VFIO_CONTAINER_SET_PERSISTENT_PGTABLES, 0x3b79); /* pkernfs RFC: VFIO_BASE + 21 */
SAME(LU_VFIO_DMA_MAP_FLAG_LIVE_UPDATE, 8);                /* pkernfs RFC: 1 << 3 */
_Static_assert(sizeof(struct lu_vfio_set_persistent_pgtables) == 4, "pkernfs: one __u32 fd");
SAME(LU_VFIO_DEVICE_BIND_IOMMUFD, 0x3b76);
SAME(LU_VFIO_DEVICE_ATTACH_IOMMUFD_PT, 0x3b77);
SAME(LU_IOMMU_IOAS_ALLOC, 0x3b81);
SAME(LU_IOMMU_IOAS_MAP, 0x3b85);
SAME(LU_IOMMU_HWPT_ALLOC, 0x3b89);
SAME(LU_IOMMU_IOAS_MAP_FILE, 0x3b8f);
SAME(LU_LIVEUPDATE_IOCTL_CREATE_SESSION, 0xba00);
SAME(LU_LIVEUPDATE_IOCTL_RETRIEVE_SESSION, 0xba01);
SAME(LU_LIVEUPDATE_SESSION_PRESERVE_FD, 0xba40);
SAME(LU_LIVEUPDATE_SESSION_RETRIEVE_FD, 0xba41);
SAME(LU_LIVEUPDATE_SESSION_FINISH, 0xba42);
_Static_assert(sizeof(struct lu_liveupdate_session) == 72, "LUO session: size, fd, name[64]");
_Static_assert(sizeof(struct lu_liveupdate_session_fd) == 16, "LUO fd: size, fd, aligned u64 token");
_Static_assert(offsetof(struct lu_liveupdate_session_fd, token) == 8, "LUO token at 8");
_Static_assert(sizeof(struct lu_iommu_ioas_map) == 40, "iommu_ioas_map is 40 bytes");
_Static_assert(sizeof(struct lu_iommu_hwpt_alloc) == 48, "iommu_hwpt_alloc is 48 bytes");

/* ---- VFIO container, groups, type1: in every header since 3.6 ---- */
SAME(LU_VFIO_TYPE, VFIO_TYPE);
SAME(LU_VFIO_BASE, VFIO_BASE);
SAME(LU_VFIO_API_VERSION, VFIO_API_VERSION);
SAME(LU_VFIO_TYPE1_IOMMU, VFIO_TYPE1_IOMMU);
SAME(LU_VFIO_TYPE1v2_IOMMU, VFIO_TYPE1v2_IOMMU);
SAME(LU_VFIO_GET_API_VERSION, VFIO_GET_API_VERSION);
SAME(LU_VFIO_CHECK_EXTENSION, VFIO_CHECK_EXTENSION);
SAME(LU_VFIO_SET_IOMMU, VFIO_SET_IOMMU);
SAME(LU_VFIO_GROUP_GET_STATUS, VFIO_GROUP_GET_STATUS);
SAME(LU_VFIO_GROUP_SET_CONTAINER, VFIO_GROUP_SET_CONTAINER);
SAME(LU_VFIO_GROUP_UNSET_CONTAINER, VFIO_GROUP_UNSET_CONTAINER);
SAME(LU_VFIO_GROUP_GET_DEVICE_FD, VFIO_GROUP_GET_DEVICE_FD);
SAME(LU_VFIO_DEVICE_GET_INFO, VFIO_DEVICE_GET_INFO);
SAME(LU_VFIO_IOMMU_MAP_DMA, VFIO_IOMMU_MAP_DMA);
SAME(LU_VFIO_IOMMU_UNMAP_DMA, VFIO_IOMMU_UNMAP_DMA);
SAME(LU_VFIO_GROUP_FLAGS_VIABLE, VFIO_GROUP_FLAGS_VIABLE);
SAME(LU_VFIO_GROUP_FLAGS_CONTAINER_SET, VFIO_GROUP_FLAGS_CONTAINER_SET);
SAME(LU_VFIO_DMA_MAP_FLAG_READ, VFIO_DMA_MAP_FLAG_READ);
SAME(LU_VFIO_DMA_MAP_FLAG_WRITE, VFIO_DMA_MAP_FLAG_WRITE);
SAME(LU_VFIO_DEVICE_FLAGS_PCI, VFIO_DEVICE_FLAGS_PCI);
#ifdef VFIO_DMA_MAP_FLAG_VADDR
_Static_assert(LU_VFIO_DMA_MAP_FLAG_LIVE_UPDATE != VFIO_DMA_MAP_FLAG_VADDR, "the RFC's flag is clear of upstream's");
#endif
_Static_assert(sizeof(struct lu_vfio_group_status) == sizeof(struct vfio_group_status), "vfio_group_status");
FIELD(lu_vfio_group_status, vfio_group_status, flags, flags);
_Static_assert(sizeof(struct lu_vfio_dma_map) == sizeof(struct vfio_iommu_type1_dma_map), "vfio_iommu_type1_dma_map");
FIELD(lu_vfio_dma_map, vfio_iommu_type1_dma_map, flags, flags);
FIELD(lu_vfio_dma_map, vfio_iommu_type1_dma_map, vaddr, vaddr);
FIELD(lu_vfio_dma_map, vfio_iommu_type1_dma_map, iova, iova);
FIELD(lu_vfio_dma_map, vfio_iommu_type1_dma_map, size, size);
_Static_assert(sizeof(struct lu_vfio_dma_unmap) == sizeof(struct vfio_iommu_type1_dma_unmap), "vfio_iommu_type1_dma_unmap");
FIELD(lu_vfio_dma_unmap, vfio_iommu_type1_dma_unmap, iova, iova);
FIELD(lu_vfio_dma_unmap, vfio_iommu_type1_dma_unmap, size, size);
FIELD(lu_vfio_device_info, vfio_device_info, num_regions, num_regions);
FIELD(lu_vfio_device_info, vfio_device_info, num_irqs, num_irqs);
FIELD(lu_vfio_device_info, vfio_device_info, cap_offset, cap_offset);

/* ---- VFIO cdev (6.6+) ---- */
#ifdef VFIO_DEVICE_BIND_IOMMUFD
#define CHECKED_CDEV 1
SAME(LU_VFIO_DEVICE_BIND_IOMMUFD, VFIO_DEVICE_BIND_IOMMUFD);
SAME(LU_VFIO_DEVICE_ATTACH_IOMMUFD_PT, VFIO_DEVICE_ATTACH_IOMMUFD_PT);
SAME(LU_VFIO_DEVICE_DETACH_IOMMUFD_PT, VFIO_DEVICE_DETACH_IOMMUFD_PT);
FIELD(lu_vfio_device_bind_iommufd, vfio_device_bind_iommufd, iommufd, iommufd);
FIELD(lu_vfio_device_bind_iommufd, vfio_device_bind_iommufd, out_devid, out_devid);
FIELD(lu_vfio_device_attach_iommufd_pt, vfio_device_attach_iommufd_pt, pt_id, pt_id);
#else
#define CHECKED_CDEV 0
#endif

/* ---- iommufd (6.2+ headers) ---- */
#if __has_include(<linux/iommufd.h>)
#include <linux/iommufd.h>
#define CHECKED_IOMMUFD 1
SAME(LU_IOMMUFD_TYPE, IOMMUFD_TYPE);
SAME(LU_IOMMU_DESTROY, IOMMU_DESTROY);
SAME(LU_IOMMU_IOAS_ALLOC, IOMMU_IOAS_ALLOC);
SAME(LU_IOMMU_IOAS_MAP, IOMMU_IOAS_MAP);
SAME(LU_IOMMU_IOAS_UNMAP, IOMMU_IOAS_UNMAP);
SAME(LU_IOMMU_IOAS_MAP_FIXED_IOVA, IOMMU_IOAS_MAP_FIXED_IOVA);
SAME(LU_IOMMU_IOAS_MAP_WRITEABLE, IOMMU_IOAS_MAP_WRITEABLE);
SAME(LU_IOMMU_IOAS_MAP_READABLE, IOMMU_IOAS_MAP_READABLE);
_Static_assert(sizeof(struct lu_iommu_destroy) == sizeof(struct iommu_destroy), "iommu_destroy");
_Static_assert(sizeof(struct lu_iommu_ioas_alloc) == sizeof(struct iommu_ioas_alloc), "iommu_ioas_alloc");
FIELD(lu_iommu_ioas_alloc, iommu_ioas_alloc, out_ioas_id, out_ioas_id);
_Static_assert(sizeof(struct lu_iommu_ioas_map) == sizeof(struct iommu_ioas_map), "iommu_ioas_map");
FIELD(lu_iommu_ioas_map, iommu_ioas_map, ioas_id, ioas_id);
FIELD(lu_iommu_ioas_map, iommu_ioas_map, user_va, user_va);
FIELD(lu_iommu_ioas_map, iommu_ioas_map, length, length);
FIELD(lu_iommu_ioas_map, iommu_ioas_map, iova, iova);
_Static_assert(sizeof(struct lu_iommu_ioas_unmap) == sizeof(struct iommu_ioas_unmap), "iommu_ioas_unmap");
FIELD(lu_iommu_ioas_unmap, iommu_ioas_unmap, iova, iova);
FIELD(lu_iommu_ioas_unmap, iommu_ioas_unmap, length, length);
#ifdef IOMMU_HWPT_ALLOC
SAME(LU_IOMMU_HWPT_ALLOC, IOMMU_HWPT_ALLOC);
FIELD(lu_iommu_hwpt_alloc, iommu_hwpt_alloc, dev_id, dev_id);
FIELD(lu_iommu_hwpt_alloc, iommu_hwpt_alloc, pt_id, pt_id);
FIELD(lu_iommu_hwpt_alloc, iommu_hwpt_alloc, out_hwpt_id, out_hwpt_id);
#endif
#ifdef IOMMU_IOAS_MAP_FILE
SAME(LU_IOMMU_IOAS_MAP_FILE, IOMMU_IOAS_MAP_FILE);
_Static_assert(sizeof(struct lu_iommu_ioas_map_file) == sizeof(struct iommu_ioas_map_file), "iommu_ioas_map_file");
FIELD(lu_iommu_ioas_map_file, iommu_ioas_map_file, fd, fd);
FIELD(lu_iommu_ioas_map_file, iommu_ioas_map_file, start, start);
FIELD(lu_iommu_ioas_map_file, iommu_ioas_map_file, iova, iova);
#endif
#else
#define CHECKED_IOMMUFD 0
#endif

/* ---- LUO (6.19+ headers) ---- */
#if __has_include(<linux/liveupdate.h>)
#include <linux/liveupdate.h>
#define CHECKED_LUO 1
SAME(LU_LIVEUPDATE_IOCTL_TYPE, LIVEUPDATE_IOCTL_TYPE);
SAME(LU_LIVEUPDATE_SESSION_NAME_LENGTH, LIVEUPDATE_SESSION_NAME_LENGTH);
SAME(LU_LIVEUPDATE_IOCTL_CREATE_SESSION, LIVEUPDATE_IOCTL_CREATE_SESSION);
SAME(LU_LIVEUPDATE_IOCTL_RETRIEVE_SESSION, LIVEUPDATE_IOCTL_RETRIEVE_SESSION);
SAME(LU_LIVEUPDATE_SESSION_PRESERVE_FD, LIVEUPDATE_SESSION_PRESERVE_FD);
SAME(LU_LIVEUPDATE_SESSION_RETRIEVE_FD, LIVEUPDATE_SESSION_RETRIEVE_FD);
SAME(LU_LIVEUPDATE_SESSION_FINISH, LIVEUPDATE_SESSION_FINISH);
_Static_assert(sizeof(struct lu_liveupdate_session) == sizeof(struct liveupdate_ioctl_create_session), "create_session");
_Static_assert(sizeof(struct lu_liveupdate_session) == sizeof(struct liveupdate_ioctl_retrieve_session), "retrieve_session");
FIELD(lu_liveupdate_session, liveupdate_ioctl_create_session, fd, fd);
FIELD(lu_liveupdate_session, liveupdate_ioctl_create_session, name, name);
_Static_assert(sizeof(struct lu_liveupdate_session_fd) == sizeof(struct liveupdate_session_preserve_fd), "preserve_fd");
FIELD(lu_liveupdate_session_fd, liveupdate_session_preserve_fd, fd, fd);
FIELD(lu_liveupdate_session_fd, liveupdate_session_preserve_fd, token, token);
FIELD(lu_liveupdate_session_fd, liveupdate_session_retrieve_fd, fd, fd);
FIELD(lu_liveupdate_session_fd, liveupdate_session_retrieve_fd, token, token);
_Static_assert(sizeof(struct lu_liveupdate_session_finish) == sizeof(struct liveupdate_session_finish), "finish");
#else
#define CHECKED_LUO 0
#endif

int main(void)
{
	printf("{\"derived\":true,\"vfio\":true,\"vfioCdev\":%s,\"iommufd\":%s,\"liveupdate\":%s}\n", CHECKED_CDEV ? "true" : "false",
	       CHECKED_IOMMUFD ? "true" : "false", CHECKED_LUO ? "true" : "false");
	return 0;
}
