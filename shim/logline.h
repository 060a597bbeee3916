/* The decision log's line formatter (logline.c), for log.c and the call
 * sites it prints (callsite.c).  A line carries its own format: text, or
 * JSON when json is set (line_begin sets it; a line that is not a log
 * record, like diag's report, starts as { .json = false }). */
#ifndef ZCOPY_LOGLINE_H
#define ZCOPY_LOGLINE_H

struct line {
    char buf[3072];
    size_t len;
    bool json;
};

void line_put(struct line *l, const char *s);
void line_put_u64(struct line *l, uint64_t v);
void line_put_i64(struct line *l, int64_t v);
void line_put_hexdigits(struct line *l, uint64_t v);
void line_put_hex(struct line *l, uint64_t v);
void line_put_value(struct line *l, const char *s);
void line_field(struct line *l, const char *key);
void line_str(struct line *l, const char *key, const char *value);
void line_int(struct line *l, const char *key, int64_t value);
void line_begin(struct line *l, const char *event, bool json);

#endif
