/* lu-helper: LUO (/dev/liveupdate) sessions, and the kexec op. */
#include "helper.h"

int op_luo_open(const struct jv *a, struct jw *w)
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

int op_luo_session_create(const struct jv *a, struct jw *w) { return luo_session(a, w, LU_LIVEUPDATE_IOCTL_CREATE_SESSION, "LIVEUPDATE_IOCTL_CREATE_SESSION"); }
int op_luo_session_retrieve(const struct jv *a, struct jw *w) { return luo_session(a, w, LU_LIVEUPDATE_IOCTL_RETRIEVE_SESSION, "LIVEUPDATE_IOCTL_RETRIEVE_SESSION"); }

int op_luo_preserve(const struct jv *a, struct jw *w)
{
	struct handle *s = NULL, *f = NULL;
	uint64_t token = 0;
	if (arg_handle(a, "session", H_FD, &s) < 0 || arg_handle(a, "fd", H_FD, &f) < 0 || arg_u64(a, "token", &token, 1, 0) < 0) return -1;
	struct lu_liveupdate_session_fd p = { sizeof p, f->fd, token };
	if (ioctl(s->fd, LU_LIVEUPDATE_SESSION_PRESERVE_FD, &p) < 0) return ioctl_fail("LIVEUPDATE_SESSION_PRESERVE_FD", s->what, errno, NULL);
	jw_ku64(w, "token", token);
	return 0;
}

int op_luo_retrieve_fd(const struct jv *a, struct jw *w)
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

int op_luo_finish(const struct jv *a, struct jw *w)
{
	struct handle *s = NULL;
	if (arg_handle(a, "session", H_FD, &s) < 0) return -1;
	struct lu_liveupdate_session_finish f = { sizeof f, 0 };
	if (ioctl(s->fd, LU_LIVEUPDATE_SESSION_FINISH, &f) < 0) return ioctl_fail("LIVEUPDATE_SESSION_FINISH", s->what, errno, NULL);
	jw_kbool(w, "finished", 1);
	return 0;
}

/* The holder of LUO sessions performs the kexec itself, so its fds are open at the jump. */
int op_kexec(const struct jv *a, struct jw *w)
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
