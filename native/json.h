/* A small JSON reader (bounded depth and size, exact 64-bit integers) and writer for the helper. */
#ifndef LU_JSON_H
#define LU_JSON_H

#include <stddef.h>
#include <stdint.h>

enum jtype { J_NULL, J_BOOL, J_NUM, J_STR, J_ARR, J_OBJ };

struct jv {
	enum jtype t;
	int b;
	/* numbers: `is_u64` when the text was a non-negative integer that fits; `num` always */
	int is_u64;
	uint64_t u;
	double num;
	char *s; /* strings: NUL-terminated; embedded NULs are refused */
	size_t n; /* array items / object members */
	struct jv *items;
	char **keys;
};

/* Parses text into *out; on error returns -1 and writes a message with the byte offset. */
int json_parse(const char *text, size_t len, struct jv *out, char *err, size_t errlen);
void json_free(struct jv *v);
const struct jv *json_get(const struct jv *obj, const char *key);

/* Writer: appends to a growable buffer; commas are placed for you. */
struct jw {
	char *buf;
	size_t len, cap;
	int first[64];
	int depth;
	int after_key;
};
void jw_init(struct jw *w);
void jw_free(struct jw *w);
void jw_obj(struct jw *w);
void jw_end_obj(struct jw *w);
void jw_arr(struct jw *w);
void jw_end_arr(struct jw *w);
void jw_key(struct jw *w, const char *k);
void jw_str(struct jw *w, const char *s);
void jw_u64(struct jw *w, uint64_t v);
void jw_i64(struct jw *w, int64_t v);
void jw_bool(struct jw *w, int v);
void jw_null(struct jw *w);
/* a value already written as JSON text (another writer's output) */
void jw_raw(struct jw *w, const char *json, size_t len);
/* key + value shorthands */
void jw_kstr(struct jw *w, const char *k, const char *s);
void jw_ku64(struct jw *w, const char *k, uint64_t v);
void jw_ki64(struct jw *w, const char *k, int64_t v);
void jw_kbool(struct jw *w, const char *k, int v);

#endif
