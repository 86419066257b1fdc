#define _GNU_SOURCE
#include "json.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_DEPTH 32

struct parser {
	const char *p, *start, *end;
	char *err;
	size_t errlen;
	int failed;
};

static void fail(struct parser *ps, const char *what)
{
	if (!ps->failed)
		snprintf(ps->err, ps->errlen, "%s at byte %zu", what, (size_t)(ps->p - ps->start));
	ps->failed = 1;
}

static void skip_ws(struct parser *ps)
{
	while (ps->p < ps->end && (*ps->p == ' ' || *ps->p == '\t' || *ps->p == '\n' || *ps->p == '\r'))
		ps->p++;
}

static void *xcalloc(size_t n, size_t sz)
{
	void *p = calloc(n ? n : 1, sz);
	if (!p) {
		fputs("{\"ok\":false,\"error\":{\"op\":\"request\",\"errno\":12,\"code\":\"failed\",\"message\":\"out of memory\"}}\n", stdout);
		exit(1);
	}
	return p;
}

static void put_utf8(char *out, size_t *o, unsigned cp)
{
	if (cp < 0x80) {
		out[(*o)++] = (char)cp;
	} else if (cp < 0x800) {
		out[(*o)++] = (char)(0xC0 | (cp >> 6));
		out[(*o)++] = (char)(0x80 | (cp & 0x3F));
	} else if (cp < 0x10000) {
		out[(*o)++] = (char)(0xE0 | (cp >> 12));
		out[(*o)++] = (char)(0x80 | ((cp >> 6) & 0x3F));
		out[(*o)++] = (char)(0x80 | (cp & 0x3F));
	} else {
		out[(*o)++] = (char)(0xF0 | (cp >> 18));
		out[(*o)++] = (char)(0x80 | ((cp >> 12) & 0x3F));
		out[(*o)++] = (char)(0x80 | ((cp >> 6) & 0x3F));
		out[(*o)++] = (char)(0x80 | (cp & 0x3F));
	}
}

static int hex4(struct parser *ps, unsigned *cp)
{
	*cp = 0;
	for (int i = 0; i < 4; i++) {
		if (ps->p >= ps->end) return -1;
		char c = *ps->p++;
		*cp <<= 4;
		if (c >= '0' && c <= '9') *cp |= (unsigned)(c - '0');
		else if (c >= 'a' && c <= 'f') *cp |= (unsigned)(c - 'a' + 10);
		else if (c >= 'A' && c <= 'F') *cp |= (unsigned)(c - 'A' + 10);
		else return -1;
	}
	return 0;
}

static char *parse_string(struct parser *ps)
{
	/* ps->p is just past the opening quote; the decoded text is never longer than the raw text */
	const char *q = ps->p;
	size_t raw = 0;
	while (q < ps->end && *q != '"') {
		if (*q == '\\') q++;
		q++;
		raw++;
	}
	char *out = xcalloc((size_t)(q - ps->p) + 4, 1);
	size_t o = 0;
	(void)raw;
	while (ps->p < ps->end && *ps->p != '"') {
		unsigned char c = (unsigned char)*ps->p++;
		if (c < 0x20) { fail(ps, "control character in string"); free(out); return NULL; }
		if (c != '\\') { out[o++] = (char)c; continue; }
		if (ps->p >= ps->end) break;
		char e = *ps->p++;
		unsigned cp;
		switch (e) {
		case '"': out[o++] = '"'; break;
		case '\\': out[o++] = '\\'; break;
		case '/': out[o++] = '/'; break;
		case 'b': out[o++] = '\b'; break;
		case 'f': out[o++] = '\f'; break;
		case 'n': out[o++] = '\n'; break;
		case 'r': out[o++] = '\r'; break;
		case 't': out[o++] = '\t'; break;
		case 'u':
			if (hex4(ps, &cp) < 0) { fail(ps, "bad \\u escape"); free(out); return NULL; }
			if (cp == 0) { fail(ps, "NUL in string"); free(out); return NULL; }
			if (cp >= 0xD800 && cp <= 0xDBFF && ps->end - ps->p >= 6 && ps->p[0] == '\\' && ps->p[1] == 'u') {
				unsigned lo;
				ps->p += 2;
				if (hex4(ps, &lo) < 0 || lo < 0xDC00 || lo > 0xDFFF) { fail(ps, "bad surrogate pair"); free(out); return NULL; }
				cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
			} else if (cp >= 0xD800 && cp <= 0xDFFF) {
				fail(ps, "lone surrogate"); free(out); return NULL;
			}
			put_utf8(out, &o, cp);
			break;
		default: fail(ps, "bad escape"); free(out); return NULL;
		}
	}
	if (ps->p >= ps->end) { fail(ps, "unterminated string"); free(out); return NULL; }
	ps->p++;
	out[o] = 0;
	return out;
}

static int parse_value(struct parser *ps, struct jv *v, int depth);

static int parse_number(struct parser *ps, struct jv *v)
{
	const char *s = ps->p;
	int neg = 0, frac = 0;
	if (ps->p < ps->end && *ps->p == '-') { neg = 1; ps->p++; }
	if (ps->p >= ps->end || *ps->p < '0' || *ps->p > '9') { fail(ps, "bad number"); return -1; }
	if (*ps->p == '0' && ps->p + 1 < ps->end && ps->p[1] >= '0' && ps->p[1] <= '9') { fail(ps, "leading zero"); return -1; }
	while (ps->p < ps->end && *ps->p >= '0' && *ps->p <= '9') ps->p++;
	if (ps->p < ps->end && *ps->p == '.') {
		frac = 1; ps->p++;
		if (ps->p >= ps->end || *ps->p < '0' || *ps->p > '9') { fail(ps, "bad number"); return -1; }
		while (ps->p < ps->end && *ps->p >= '0' && *ps->p <= '9') ps->p++;
	}
	if (ps->p < ps->end && (*ps->p == 'e' || *ps->p == 'E')) {
		frac = 1; ps->p++;
		if (ps->p < ps->end && (*ps->p == '+' || *ps->p == '-')) ps->p++;
		if (ps->p >= ps->end || *ps->p < '0' || *ps->p > '9') { fail(ps, "bad number"); return -1; }
		while (ps->p < ps->end && *ps->p >= '0' && *ps->p <= '9') ps->p++;
	}
	char tmp[64];
	size_t n = (size_t)(ps->p - s);
	if (n >= sizeof tmp) { fail(ps, "number too long"); return -1; }
	memcpy(tmp, s, n);
	tmp[n] = 0;
	v->t = J_NUM;
	v->num = strtod(tmp, NULL);
	if (!neg && !frac) {
		errno = 0;
		unsigned long long u = strtoull(tmp, NULL, 10);
		if (errno == 0) { v->is_u64 = 1; v->u = u; }
	}
	return 0;
}

static int parse_value(struct parser *ps, struct jv *v, int depth)
{
	memset(v, 0, sizeof *v);
	if (depth > MAX_DEPTH) { fail(ps, "nested too deep"); return -1; }
	skip_ws(ps);
	if (ps->p >= ps->end) { fail(ps, "unexpected end"); return -1; }
	char c = *ps->p;
	if (c == '{') {
		ps->p++;
		v->t = J_OBJ;
		size_t cap = 0;
		skip_ws(ps);
		if (ps->p < ps->end && *ps->p == '}') { ps->p++; return 0; }
		for (;;) {
			skip_ws(ps);
			if (ps->p >= ps->end || *ps->p != '"') { fail(ps, "expected a key"); return -1; }
			ps->p++;
			char *k = parse_string(ps);
			if (!k) return -1;
			skip_ws(ps);
			if (ps->p >= ps->end || *ps->p != ':') { free(k); fail(ps, "expected ':'"); return -1; }
			ps->p++;
			if (v->n == cap) {
				cap = cap ? cap * 2 : 8;
				v->items = realloc(v->items, cap * sizeof *v->items);
				v->keys = realloc(v->keys, cap * sizeof *v->keys);
				if (!v->items || !v->keys) { free(k); fail(ps, "out of memory"); return -1; }
			}
			v->keys[v->n] = k;
			if (parse_value(ps, &v->items[v->n], depth + 1) < 0) { v->n++; return -1; }
			v->n++;
			skip_ws(ps);
			if (ps->p < ps->end && *ps->p == ',') { ps->p++; continue; }
			if (ps->p < ps->end && *ps->p == '}') { ps->p++; return 0; }
			fail(ps, "expected ',' or '}'");
			return -1;
		}
	}
	if (c == '[') {
		ps->p++;
		v->t = J_ARR;
		size_t cap = 0;
		skip_ws(ps);
		if (ps->p < ps->end && *ps->p == ']') { ps->p++; return 0; }
		for (;;) {
			if (v->n == cap) {
				cap = cap ? cap * 2 : 8;
				v->items = realloc(v->items, cap * sizeof *v->items);
				if (!v->items) { fail(ps, "out of memory"); return -1; }
			}
			if (parse_value(ps, &v->items[v->n], depth + 1) < 0) { v->n++; return -1; }
			v->n++;
			skip_ws(ps);
			if (ps->p < ps->end && *ps->p == ',') { ps->p++; continue; }
			if (ps->p < ps->end && *ps->p == ']') { ps->p++; return 0; }
			fail(ps, "expected ',' or ']'");
			return -1;
		}
	}
	if (c == '"') {
		ps->p++;
		v->t = J_STR;
		v->s = parse_string(ps);
		return v->s ? 0 : -1;
	}
	if (c == '-' || (c >= '0' && c <= '9')) return parse_number(ps, v);
	if (ps->end - ps->p >= 4 && !memcmp(ps->p, "true", 4)) { ps->p += 4; v->t = J_BOOL; v->b = 1; return 0; }
	if (ps->end - ps->p >= 5 && !memcmp(ps->p, "false", 5)) { ps->p += 5; v->t = J_BOOL; return 0; }
	if (ps->end - ps->p >= 4 && !memcmp(ps->p, "null", 4)) { ps->p += 4; v->t = J_NULL; return 0; }
	fail(ps, "unexpected character");
	return -1;
}

int json_parse(const char *text, size_t len, struct jv *out, char *err, size_t errlen)
{
	struct parser ps = { text, text, text + len, err, errlen, 0 };
	if (memchr(text, 0, len)) { snprintf(err, errlen, "NUL byte in request"); memset(out, 0, sizeof *out); return -1; }
	if (parse_value(&ps, out, 0) < 0) return -1;
	skip_ws(&ps);
	if (ps.p != ps.end) { fail(&ps, "trailing data"); return -1; }
	return 0;
}

void json_free(struct jv *v)
{
	if (v->t == J_STR) free(v->s);
	if (v->t == J_ARR || v->t == J_OBJ) {
		for (size_t i = 0; i < v->n; i++) {
			json_free(&v->items[i]);
			if (v->keys) free(v->keys[i]);
		}
		free(v->items);
		free(v->keys);
	}
	memset(v, 0, sizeof *v);
}

const struct jv *json_get(const struct jv *obj, const char *key)
{
	if (!obj || obj->t != J_OBJ) return NULL;
	for (size_t i = 0; i < obj->n; i++)
		if (!strcmp(obj->keys[i], key)) return &obj->items[i];
	return NULL;
}

/* ---- writer ---- */

static void put(struct jw *w, const char *s, size_t n)
{
	if (w->len + n + 1 > w->cap) {
		while (w->len + n + 1 > w->cap) w->cap = w->cap ? w->cap * 2 : 1024;
		w->buf = realloc(w->buf, w->cap);
		if (!w->buf) exit(1);
	}
	memcpy(w->buf + w->len, s, n);
	w->len += n;
	w->buf[w->len] = 0;
}

static void putf(struct jw *w, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void putf(struct jw *w, const char *fmt, ...)
{
	char tmp[64];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
	va_end(ap);
	put(w, tmp, (size_t)n);
}

/* a value in an array, or the first member of an object, takes a comma after the first */
static void sep(struct jw *w)
{
	if (w->depth > 0 && !w->first[w->depth]) put(w, ",", 1);
	if (w->depth > 0) w->first[w->depth] = 0;
}

void jw_init(struct jw *w) { memset(w, 0, sizeof *w); }
void jw_free(struct jw *w) { free(w->buf); memset(w, 0, sizeof *w); }

static void open_(struct jw *w, char c)
{
	put(w, &c, 1);
	if (w->depth < 63) w->depth++;
	w->first[w->depth] = 1;
}

static void close_(struct jw *w, char c)
{
	put(w, &c, 1);
	if (w->depth > 0) w->depth--;
}

/* values written right after a key do not take a separator: jw_key placed it */
static void value_sep(struct jw *w)
{
	if (w->after_key) w->after_key = 0;
	else sep(w);
}

void jw_obj(struct jw *w) { value_sep(w); open_(w, '{'); }
void jw_end_obj(struct jw *w) { close_(w, '}'); }
void jw_arr(struct jw *w) { value_sep(w); open_(w, '['); }
void jw_end_arr(struct jw *w) { close_(w, ']'); }

static void raw_str(struct jw *w, const char *s)
{
	put(w, "\"", 1);
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		if (*p == '"') put(w, "\\\"", 2);
		else if (*p == '\\') put(w, "\\\\", 2);
		else if (*p == '\n') put(w, "\\n", 2);
		else if (*p == '\t') put(w, "\\t", 2);
		else if (*p < 0x20 || *p == 0x7f) putf(w, "\\u%04x", *p);
		else put(w, (const char *)p, 1);
	}
	put(w, "\"", 1);
}

void jw_key(struct jw *w, const char *k)
{
	sep(w);
	raw_str(w, k);
	put(w, ":", 1);
	w->after_key = 1;
}

void jw_str(struct jw *w, const char *s) { value_sep(w); raw_str(w, s ? s : ""); }
void jw_u64(struct jw *w, uint64_t v) { value_sep(w); putf(w, "%llu", (unsigned long long)v); }
void jw_i64(struct jw *w, int64_t v) { value_sep(w); putf(w, "%lld", (long long)v); }
void jw_bool(struct jw *w, int v) { value_sep(w); put(w, v ? "true" : "false", v ? 4 : 5); }
void jw_null(struct jw *w) { value_sep(w); put(w, "null", 4); }
void jw_kstr(struct jw *w, const char *k, const char *s) { jw_key(w, k); jw_str(w, s); }
void jw_ku64(struct jw *w, const char *k, uint64_t v) { jw_key(w, k); jw_u64(w, v); }
void jw_ki64(struct jw *w, const char *k, int64_t v) { jw_key(w, k); jw_i64(w, v); }
void jw_kbool(struct jw *w, const char *k, int v) { jw_key(w, k); jw_bool(w, v); }

void jw_raw(struct jw *w, const char *json, size_t len)
{
	value_sep(w);
	put(w, json, len);
}
