/* The decision log's line formatter (logline.c), shared by log.c only. */
#ifndef ZCOPY_LOGLINE_H
#define ZCOPY_LOGLINE_H

struct line {
    char buf[3072];
    size_t len;
};

void line_put(struct line *l, const char *s);
void line_put_u64(struct line *l, uint64_t v);
void line_put_i64(struct line *l, int64_t v);
void line_put_hex(struct line *l, uint64_t v);
void line_put_value(struct line *l, const char *s);
void line_field(struct line *l, const char *key);
void line_str(struct line *l, const char *key, const char *value);
void line_int(struct line *l, const char *key, int64_t value);
void line_begin(struct line *l, const char *event);

#endif
