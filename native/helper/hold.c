/* lu-helper: "hold": a daemon keeping the handles, answering ops on a unix socket. */
#include "helper.h"

static int send_fd(int sock, const char *line, int fd)
{
	struct iovec iov = { (void *)line, strlen(line) };
	char cbuf[CMSG_SPACE(sizeof(int))];
	struct msghdr m = { 0 };
	m.msg_iov = &iov;
	m.msg_iovlen = 1;
	if (fd >= 0) {
		memset(cbuf, 0, sizeof cbuf);
		m.msg_control = cbuf;
		m.msg_controllen = sizeof cbuf;
		struct cmsghdr *c = CMSG_FIRSTHDR(&m);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(c), &fd, sizeof fd);
	}
	return sendmsg(sock, &m, MSG_NOSIGNAL) < 0 ? -1 : 0;
}

static void serve(int lsock, const char *sockpath)
{
	for (;;) {
		int c = accept4(lsock, NULL, NULL, SOCK_CLOEXEC);
		if (c < 0) {
			if (errno == EINTR) continue;
			break;
		}
		char buf[65536];
		size_t len = 0;
		while (len < sizeof buf - 1) {
			ssize_t n = read(c, buf + len, sizeof buf - 1 - len);
			if (n <= 0) break;
			len += (size_t)n;
			if (memchr(buf, '\n', len)) break;
		}
		buf[len] = 0;
		struct jw w;
		jw_init(&w);
		jw_obj(&w);
		struct jv req;
		char perr[200];
		int passfd = -1, quit = 0;
		if (json_parse(buf, strcspn(buf, "\n"), &req, perr, sizeof perr) < 0) {
			jw_kbool(&w, "ok", 0);
			bad("malformed request: %s", perr);
			write_error(&w, "request", -1);
		} else {
			const struct jv *opv = json_get(&req, "op");
			const char *op = opv && opv->t == J_STR ? opv->s : "";
			if (!strcmp(op, "status")) {
				jw_kbool(&w, "ok", 1);
				jw_ki64(&w, "pid", getpid());
				jw_kstr(&w, "socket", sockpath);
				write_handles(&w);
			} else if (!strcmp(op, "fd")) {
				struct handle *h = NULL;
				if (arg_handle(&req, "name", H_FD, &h) < 0) {
					jw_kbool(&w, "ok", 0);
					write_error(&w, "fd", -1);
				} else {
					jw_kbool(&w, "ok", 1);
					jw_ki64(&w, "fd", h->fd);
					passfd = h->fd;
				}
			} else if (!strcmp(op, "exit")) {
				jw_kbool(&w, "ok", 1);
				quit = 1;
			} else {
				struct jw r;
				jw_init(&r);
				jw_arr(&r);
				const char *name = NULL;
				int rc = run_op(&req, &r, &name);
				jw_end_arr(&r);
				jw_kbool(&w, "ok", rc == 0);
				jw_key(&w, "results");
				jw_raw(&w, r.buf, r.len);
				jw_free(&r);
				if (rc < 0) write_error(&w, name, 0);
			}
			json_free(&req);
		}
		jw_end_obj(&w);
		char *line = malloc(w.len + 2);
		if (line) {
			memcpy(line, w.buf, w.len);
			line[w.len] = '\n';
			line[w.len + 1] = 0;
			send_fd(c, line, passfd);
			free(line);
		}
		jw_free(&w);
		close(c);
		if (quit) break;
	}
	unlink(sockpath);
}

/* Forks the holder; the parent reports its pid and exits once the socket is listening. */
int hold(const struct jv *spec, struct jw *w)
{
	const char *sockpath = NULL;
	if (spec->t != J_OBJ) return bad("\"then\".hold must be an object with a \"socket\" path");
	if (arg_str(spec, "socket", &sockpath, NULL) < 0) return -1;
	struct sockaddr_un addr = { .sun_family = AF_UNIX };
	if (strlen(sockpath) >= sizeof addr.sun_path) return bad("\"socket\" path is longer than %zu bytes", sizeof addr.sun_path - 1);
	strcpy(addr.sun_path, sockpath);
	int s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (s < 0) return sys_fail(errno, "socket");
	/* a live holder on this path must not be replaced */
	if (connect(s, (struct sockaddr *)&addr, sizeof addr) == 0) {
		close(s);
		return fail("busy", EADDRINUSE, "a holder already answers on %s", sockpath);
	}
	unlink(sockpath);
	if (bind(s, (struct sockaddr *)&addr, sizeof addr) < 0 || listen(s, 8) < 0) {
		int e = errno;
		close(s);
		return sys_fail(e, "listen on %s", sockpath);
	}
	chmod(sockpath, 0600);
	pid_t pid = fork();
	if (pid < 0) return sys_fail(errno, "fork");
	if (pid == 0) {
		setsid();
		signal(SIGHUP, SIG_IGN);
		signal(SIGPIPE, SIG_IGN);
		int nul = open("/dev/null", O_RDWR);
		if (nul >= 0) {
			dup2(nul, 0);
			dup2(nul, 1);
			dup2(nul, 2);
			if (nul > 2) close(nul);
		}
		serve(s, sockpath);
		_exit(0);
	}
	close(s);
	jw_key(w, "hold");
	jw_obj(w);
	jw_ki64(w, "pid", pid);
	jw_kstr(w, "socket", sockpath);
	jw_end_obj(w);
	return 0;
}
