/* A tiny async-signal-safe formatter for the decision log: no malloc, no
 * stdio, no locale; a line is built in a stack buffer and written with one
 * write() (log.c).  Text lines are "zcopy: key=value ...", JSON lines one
 * object with the same keys. */
#include "zcopy.h"
#include "logline.h"

#include <time.h>
#include <unistd.h>

void line_put(struct line *l, const char *s)
{
    while (*s && l->len < sizeof l->buf - 2)
        l->buf[l->len++] = *s++;
}

void line_put_u64(struct line *l, uint64_t v)
{
    char tmp[24];
    int i = sizeof tmp - 1;
    tmp[i] = 0;
    do {
        tmp[--i] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    line_put(l, tmp + i);
}

void line_put_i64(struct line *l, int64_t v)
{
    if (v < 0) {
        line_put(l, "-");
        v = -v;
    }
    line_put_u64(l, (uint64_t)v);
}

void line_put_hexdigits(struct line *l, uint64_t v)
{
    char tmp[20];
    int i = sizeof tmp - 1;
    tmp[i] = 0;
    do {
        tmp[--i] = "0123456789abcdef"[v & 15];
        v >>= 4;
    } while (v);
    line_put(l, tmp + i);
}

void line_put_hex(struct line *l, uint64_t v)
{
    line_put(l, "0x");
    line_put_hexdigits(l, v);
}

/* A value: JSON-escaped in json, spaces and '=' percent-escaped in text. */
void line_put_value(struct line *l, const char *s)
{
    char one[8];
    for (; *s && l->len < sizeof l->buf - 8; s++) {
        unsigned char c = (unsigned char)*s;
        if (l->json) {
            if (c == '"' || c == '\\') {
                one[0] = '\\', one[1] = (char)c, one[2] = 0;
            } else if (c < 0x20) {
                one[0] = '\\', one[1] = 'u', one[2] = '0', one[3] = '0';
                one[4] = "0123456789abcdef"[c >> 4], one[5] = "0123456789abcdef"[c & 15], one[6] = 0;
            } else {
                one[0] = (char)c, one[1] = 0;
            }
        } else if (c <= ' ' || c == '=' || c == '%' || c == '"') {
            one[0] = '%', one[1] = "0123456789ABCDEF"[c >> 4], one[2] = "0123456789ABCDEF"[c & 15], one[3] = 0;
        } else {
            one[0] = (char)c, one[1] = 0;
        }
        line_put(l, one);
    }
}

/* Fields: text lines are "zcopy: key=value ...", JSON lines one object. */
void line_field(struct line *l, const char *key)
{
    if (l->json) {
        line_put(l, l->len > 1 ? ",\"" : "\"");
        line_put(l, key);
        line_put(l, "\":");
    } else {
        line_put(l, " ");
        line_put(l, key);
        line_put(l, "=");
    }
}

void line_str(struct line *l, const char *key, const char *value)
{
    line_field(l, key);
    if (l->json)
        line_put(l, "\"");
    line_put_value(l, value);
    if (l->json)
        line_put(l, "\"");
}

void line_int(struct line *l, const char *key, int64_t value)
{
    line_field(l, key);
    line_put_i64(l, value);
}

void line_begin(struct line *l, const char *event, bool json)
{
    l->len = 0;
    l->json = json;
    line_put(l, l->json ? "{" : "zcopy:");
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    line_field(l, "time");
    line_put_u64(l, (uint64_t)now.tv_sec);
    line_put(l, ".");
    char ms[4] = { (char)('0' + now.tv_nsec / 100000000), (char)('0' + now.tv_nsec / 10000000 % 10),
                   (char)('0' + now.tv_nsec / 1000000 % 10), 0 };
    line_put(l, ms);
    line_int(l, "pid", getpid());
    line_int(l, "tid", gettid());
    line_str(l, "mode", zc_mode_name(zc_cfg.mode));
    line_str(l, "version", ZCOPY_VERSION);  /* which build made the line */
    line_str(l, "event", event);
}
