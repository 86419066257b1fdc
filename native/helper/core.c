/* lu-helper: errors, request arguments and the handle table. */
#include "helper.h"

const char *kind_name[] = { "fd", "buffer", "id" };
struct handle handles[MAX_HANDLES];
int nhandles;
struct helper_error E;

int fail(const char *code, int eno, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
int fail(const char *code, int eno, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(E.message, sizeof E.message, fmt, ap);
	va_end(ap);
	E.code = code;
	E.eno = eno;
	return -1;
}

const char *code_of(int eno)
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

const char *ename(int eno)
{
	const char *n = strerrorname_np(eno);
	return n ? n : "E?";
}

int sys_fail(int eno, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int sys_fail(int eno, const char *fmt, ...)
{
	char what[400];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(what, sizeof what, fmt, ap);
	va_end(ap);
	return fail(code_of(eno), eno, "%s: %s (%s)", what, strerror(eno), ename(eno));
}

/* An ioctl the kernel does not know answers ENOTTY: say so in words. */
int ioctl_fail(const char *name, const char *on, int eno, const char *needs)
{
	if (eno == ENOTTY)
		return fail("not-supported", eno, "%s on %s: not supported by this kernel (ENOTTY)%s%s", name, on, needs ? ": " : "", needs ? needs : "");
	return sys_fail(eno, "%s on %s", name, on);
}

/* ---- request arguments ---- */

int bad(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
int bad(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(E.message, sizeof E.message, fmt, ap);
	va_end(ap);
	E.code = "bad-request";
	E.eno = EINVAL;
	return -1;
}

int arg_str(const struct jv *a, const char *k, const char **out, const char *def)
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

int arg_u64(const struct jv *a, const char *k, uint64_t *out, int required, uint64_t def)
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

int arg_bool(const struct jv *a, const char *k, int *out, int def)
{
	const struct jv *v = json_get(a, k);
	if (!v) { *out = def; return 0; }
	if (v->t != J_BOOL) return bad("field \"%s\" must be true or false", k);
	*out = v->b;
	return 0;
}

struct handle *find(const char *name)
{
	for (int i = 0; i < nhandles; i++)
		if (handles[i].name[0] && !strcmp(handles[i].name, name)) return &handles[i];
	return NULL;
}

int arg_handle(const struct jv *a, const char *k, enum hkind kind, struct handle **out)
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
int arg_as(const struct jv *a, const char **name)
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

struct handle *add(const char *name, enum hkind kind, int fd, const char *fmt, ...) __attribute__((format(printf, 4, 5)));
struct handle *add(const char *name, enum hkind kind, int fd, const char *fmt, ...)
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

int open_dev(const char *path, int flags, const char *missing)
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
void holders(const char *dev, char *out, size_t outlen)
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

int busy_fail(const char *dev, const char *what)
{
	char who[400];
	holders(dev, who, sizeof who);
	return fail("busy", EBUSY, "%s is busy: %s%s%s", dev, what, who[0] ? "; held by " : "", who);
}
