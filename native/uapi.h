/*
 * The uAPI the helper speaks, defined here rather than taken from <linux/...> so that one static
 * binary builds on any distribution's headers (bookworm's have no iommufd.h or liveupdate.h) and
 * carries the pkernfs RFC's additions, which no released header has.
 *
 * Sources: include/uapi/linux/vfio.h, iommufd.h and liveupdate.h (Linux 7.2), and for pkernfs the
 * Feb 2024 RFC (jgowans/linux). uapi-check.c proves every value and layout here equal to the
 * system's headers where they have it, and to the values derived by hand where they don't.
 */
#ifndef LU_UAPI_H
#define LU_UAPI_H

#include <stdint.h>
#include <sys/ioctl.h>

/* ---- VFIO (legacy container and groups) ---- */
#define LU_VFIO_TYPE ';'
#define LU_VFIO_BASE 100
#define LU_VFIO_API_VERSION 0
#define LU_VFIO_TYPE1_IOMMU 1
#define LU_VFIO_TYPE1v2_IOMMU 3
#define LU_VFIO_GET_API_VERSION _IO(LU_VFIO_TYPE, LU_VFIO_BASE + 0)
#define LU_VFIO_CHECK_EXTENSION _IO(LU_VFIO_TYPE, LU_VFIO_BASE + 1)
#define LU_VFIO_SET_IOMMU _IO(LU_VFIO_TYPE, LU_VFIO_BASE + 2)
#define LU_VFIO_GROUP_GET_STATUS _IO(LU_VFIO_TYPE, LU_VFIO_BASE + 3)
#define LU_VFIO_GROUP_SET_CONTAINER _IO(LU_VFIO_TYPE, LU_VFIO_BASE + 4)
#define LU_VFIO_GROUP_UNSET_CONTAINER _IO(LU_VFIO_TYPE, LU_VFIO_BASE + 5)
#define LU_VFIO_GROUP_GET_DEVICE_FD _IO(LU_VFIO_TYPE, LU_VFIO_BASE + 6)
#define LU_VFIO_DEVICE_GET_INFO _IO(LU_VFIO_TYPE, LU_VFIO_BASE + 7)
#define LU_VFIO_IOMMU_MAP_DMA _IO(LU_VFIO_TYPE, LU_VFIO_BASE + 13)
#define LU_VFIO_IOMMU_UNMAP_DMA _IO(LU_VFIO_TYPE, LU_VFIO_BASE + 14)
#define LU_VFIO_GROUP_FLAGS_VIABLE (1u << 0)
#define LU_VFIO_GROUP_FLAGS_CONTAINER_SET (1u << 1)
#define LU_VFIO_DMA_MAP_FLAG_READ (1u << 0)
#define LU_VFIO_DMA_MAP_FLAG_WRITE (1u << 1)
#define LU_VFIO_DEVICE_FLAGS_PCI (1u << 1)

struct lu_vfio_group_status {
	uint32_t argsz;
	uint32_t flags;
};

struct lu_vfio_dma_map {
	uint32_t argsz;
	uint32_t flags;
	uint64_t vaddr;
	uint64_t iova;
	uint64_t size;
};

struct lu_vfio_dma_unmap {
	uint32_t argsz;
	uint32_t flags;
	uint64_t iova;
	uint64_t size;
};

struct lu_vfio_device_info {
	uint32_t argsz;
	uint32_t flags;
	uint32_t num_regions;
	uint32_t num_irqs;
	uint32_t cap_offset;
	uint32_t pad;
};

/* ---- pkernfs RFC additions (never merged; values from the RFC) ----
 * VFIO_BASE + 21 on a container fd. The same number is VFIO_MIG_GET_PRECOPY_INFO on a device fd and
 * VFIO_EEH_PE_OP on a spapr container upstream: a type1 container without the RFC answers ENOTTY. */
#define LU_VFIO_CONTAINER_SET_PERSISTENT_PGTABLES _IO(LU_VFIO_TYPE, LU_VFIO_BASE + 21)
#define LU_VFIO_DMA_MAP_FLAG_LIVE_UPDATE (1u << 3)

struct lu_vfio_set_persistent_pgtables {
	uint32_t persistent_pgtables_fd;
};

/* ---- VFIO device cdev + iommufd (Linux 6.6+) ---- */
#define LU_VFIO_DEVICE_BIND_IOMMUFD _IO(LU_VFIO_TYPE, LU_VFIO_BASE + 18)
#define LU_VFIO_DEVICE_ATTACH_IOMMUFD_PT _IO(LU_VFIO_TYPE, LU_VFIO_BASE + 19)
#define LU_VFIO_DEVICE_DETACH_IOMMUFD_PT _IO(LU_VFIO_TYPE, LU_VFIO_BASE + 20)

struct lu_vfio_device_bind_iommufd {
	uint32_t argsz;
	uint32_t flags;
	int32_t iommufd;
	uint32_t out_devid;
	uint64_t token_uuid_ptr; /* 7.x; kernels from 6.6 read the first 16 bytes */
};

/* 6.6 has the first 12 bytes; pasid came later. argsz 12 works on both. */
struct lu_vfio_device_attach_iommufd_pt {
	uint32_t argsz;
	uint32_t flags;
	uint32_t pt_id;
	uint32_t pasid;
};

struct lu_vfio_device_detach_iommufd_pt {
	uint32_t argsz;
	uint32_t flags;
	uint32_t pasid;
};

#define LU_IOMMUFD_TYPE ';'
#define LU_IOMMU_DESTROY _IO(LU_IOMMUFD_TYPE, 0x80)
#define LU_IOMMU_IOAS_ALLOC _IO(LU_IOMMUFD_TYPE, 0x81)
#define LU_IOMMU_IOAS_MAP _IO(LU_IOMMUFD_TYPE, 0x85)
#define LU_IOMMU_IOAS_UNMAP _IO(LU_IOMMUFD_TYPE, 0x86)
#define LU_IOMMU_HWPT_ALLOC _IO(LU_IOMMUFD_TYPE, 0x89)
#define LU_IOMMU_IOAS_MAP_FILE _IO(LU_IOMMUFD_TYPE, 0x8f)
#define LU_IOMMU_IOAS_MAP_FIXED_IOVA (1u << 0)
#define LU_IOMMU_IOAS_MAP_WRITEABLE (1u << 1)
#define LU_IOMMU_IOAS_MAP_READABLE (1u << 2)

struct lu_iommu_destroy {
	uint32_t size;
	uint32_t id;
};

struct lu_iommu_ioas_alloc {
	uint32_t size;
	uint32_t flags;
	uint32_t out_ioas_id;
};

struct lu_iommu_ioas_map {
	uint32_t size;
	uint32_t flags;
	uint32_t ioas_id;
	uint32_t reserved;
	uint64_t user_va;
	uint64_t length;
	uint64_t iova;
};

struct lu_iommu_ioas_map_file {
	uint32_t size;
	uint32_t flags;
	uint32_t ioas_id;
	int32_t fd;
	uint64_t start;
	uint64_t length;
	uint64_t iova;
};

struct lu_iommu_ioas_unmap {
	uint32_t size;
	uint32_t ioas_id;
	uint64_t iova;
	uint64_t length;
};

/* The first 24 bytes (up to data_uptr) are what 6.6 knows; the kernel takes `size` as the version. */
struct lu_iommu_hwpt_alloc {
	uint32_t size;
	uint32_t flags;
	uint32_t dev_id;
	uint32_t pt_id;
	uint32_t out_hwpt_id;
	uint32_t reserved;
	uint32_t data_type;
	uint32_t data_len;
	uint64_t data_uptr;
	uint32_t fault_id;
	uint32_t reserved2;
};

/* ---- LUO, /dev/liveupdate (Linux 6.19+) ---- */
#define LU_LIVEUPDATE_IOCTL_TYPE 0xBA
#define LU_LIVEUPDATE_SESSION_NAME_LENGTH 64
#define LU_LIVEUPDATE_IOCTL_CREATE_SESSION _IO(LU_LIVEUPDATE_IOCTL_TYPE, 0x00)
#define LU_LIVEUPDATE_IOCTL_RETRIEVE_SESSION _IO(LU_LIVEUPDATE_IOCTL_TYPE, 0x01)
#define LU_LIVEUPDATE_SESSION_PRESERVE_FD _IO(LU_LIVEUPDATE_IOCTL_TYPE, 0x40)
#define LU_LIVEUPDATE_SESSION_RETRIEVE_FD _IO(LU_LIVEUPDATE_IOCTL_TYPE, 0x41)
#define LU_LIVEUPDATE_SESSION_FINISH _IO(LU_LIVEUPDATE_IOCTL_TYPE, 0x42)

struct lu_liveupdate_session {
	uint32_t size;
	int32_t fd;
	uint8_t name[LU_LIVEUPDATE_SESSION_NAME_LENGTH];
};

struct lu_liveupdate_session_fd {
	uint32_t size;
	int32_t fd;
	uint64_t token;
};

struct lu_liveupdate_session_finish {
	uint32_t size;
	uint32_t reserved;
};

#endif
