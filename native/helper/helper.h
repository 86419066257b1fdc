/* lu-helper: what its files share (one file per uAPI family); the program is described in main.c. */
#ifndef LU_HELPER_H
#define LU_HELPER_H

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

#include "../json.h"
#include "../uapi.h"

#define HELPER_PROTOCOL 1
#define MAX_REQUEST (1 << 20)
#define MAX_HANDLES 64

enum hkind { H_FD, H_BUF, H_ID };
extern const char *kind_name[];

struct handle {
	char name[32];
	enum hkind kind;
	int fd;         /* H_FD: the fd; H_ID: the iommufd the id lives in; H_BUF: the backing fd or -1 */
	void *ptr;      /* H_BUF */
	uint64_t size;  /* H_BUF, memfds */
	uint32_t id;    /* H_ID; bound VFIO cdevs: the iommufd devid */
	char what[96];  /* what it is, for messages: "/dev/vfio/vfio", "ioas 2" */
};

extern struct handle handles[MAX_HANDLES];
extern int nhandles;

/* the error of the op that failed: set by fail() and the like, written by main */
struct helper_error {
	const char *code;
	int eno;
	char message[600];
};
extern struct helper_error E;

typedef int (*op_fn)(const struct jv *a, struct jw *w);

int fail(const char *code, int eno, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
const char *code_of(int eno);
const char *ename(int eno);
int sys_fail(int eno, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int ioctl_fail(const char *name, const char *on, int eno, const char *needs);
int bad(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
int arg_str(const struct jv *a, const char *k, const char **out, const char *def);
int arg_u64(const struct jv *a, const char *k, uint64_t *out, int required, uint64_t def);
int arg_bool(const struct jv *a, const char *k, int *out, int def);
struct handle *find(const char *name);
int arg_handle(const struct jv *a, const char *k, enum hkind kind, struct handle **out);
int arg_as(const struct jv *a, const char **name);
struct handle *add(const char *name, enum hkind kind, int fd, const char *fmt, ...) __attribute__((format(printf, 4, 5)));
int open_dev(const char *path, int flags, const char *missing);
void holders(const char *dev, char *out, size_t outlen);
int busy_fail(const char *dev, const char *what);
int op_probe(const struct jv *a, struct jw *w);
int op_open(const struct jv *a, struct jw *w);
int op_close(const struct jv *a, struct jw *w);
int op_buffer_alloc(const struct jv *a, struct jw *w);
int op_buffer_file(const struct jv *a, struct jw *w);
int op_memfd_create(const struct jv *a, struct jw *w);
int op_vfio_container_open(const struct jv *a, struct jw *w);
int valid_bdf(const char *s);
int op_vfio_group_open(const struct jv *a, struct jw *w);
int op_vfio_group_set_container(const struct jv *a, struct jw *w);
int op_vfio_set_iommu(const struct jv *a, struct jw *w);
int op_vfio_set_persistent_pgtables(const struct jv *a, struct jw *w);
int map_flags(const struct jv *a, uint32_t *flags, int *live);
int op_vfio_dma_map(const struct jv *a, struct jw *w);
int op_vfio_dma_unmap(const struct jv *a, struct jw *w);
int device_info(int fd, const char *what, struct jw *w);
int op_vfio_group_device(const struct jv *a, struct jw *w);
int op_iommufd_open(const struct jv *a, struct jw *w);
int op_ioas_alloc(const struct jv *a, struct jw *w);
int op_ioas_map(const struct jv *a, struct jw *w);
int op_ioas_map_file(const struct jv *a, struct jw *w);
int op_ioas_unmap(const struct jv *a, struct jw *w);
int op_vfio_cdev_open(const struct jv *a, struct jw *w);
int op_vfio_cdev_bind(const struct jv *a, struct jw *w);
int op_vfio_cdev_attach(const struct jv *a, struct jw *w);
int op_vfio_cdev_replace(const struct jv *a, struct jw *w);
int op_vfio_cdev_detach(const struct jv *a, struct jw *w);
int op_hwpt_alloc(const struct jv *a, struct jw *w);
int op_iommufd_destroy(const struct jv *a, struct jw *w);
int op_luo_open(const struct jv *a, struct jw *w);
int op_luo_session_create(const struct jv *a, struct jw *w);
int op_luo_session_retrieve(const struct jv *a, struct jw *w);
int op_luo_preserve(const struct jv *a, struct jw *w);
int op_luo_retrieve_fd(const struct jv *a, struct jw *w);
int op_luo_finish(const struct jv *a, struct jw *w);
int op_kexec(const struct jv *a, struct jw *w);
int op_ram_fingerprint(const struct jv *a, struct jw *w);
int op_guard_no_truncate(const struct jv *a, struct jw *w);
int hold(const struct jv *spec, struct jw *w);
int run_op(const struct jv *op, struct jw *w, const char **opname);
void write_error(struct jw *w, const char *op, long index);
void write_handles(struct jw *w);

#endif
