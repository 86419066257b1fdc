/* lu-helper: the op table; one op run into a result, and the results' handles and errors written.
 * main.c (one request) and hold.c (a daemon's ops) both run ops through here. */
#include "helper.h"

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
	{ "ram.fingerprint", op_ram_fingerprint },
	{ "guard.no_truncate", op_guard_no_truncate },
	{ "kexec", op_kexec },
};

/* Runs one op into the results array; -1 with E set on failure. */
int run_op(const struct jv *op, struct jw *w, const char **opname)
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

void write_error(struct jw *w, const char *op, long index)
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

void write_handles(struct jw *w)
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
