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
 * bad-request, not-supported, not-found, permission, busy, invalid, not-viable, mismatch (guest RAM
 * differs from its fingerprint), failed. Exit 0 ok,
 * 1 an op failed, 2 a bad request. Nothing in a request can crash it.
 */
#include "helper.h"

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
