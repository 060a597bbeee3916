/* The names that the summary, the decision log and diag's report print: the
 * fast calls, and the skip reasons with their sentences (skip_reasons.def).
 * Below stats.c and log.c, which both print them; calls nothing. */
#include "zcopy.h"

/* As the summary labels its lines. */
static const char *const method_labels[ZC_METHODS] = {
    [ZC_SENDFILE] = "sendfile",
    [ZC_SPLICE] = "splice",
    [ZC_COPY_FILE_RANGE] = "copy_file_range",
    [ZC_PLAIN] = "passed_through",
    [ZC_PROGRAM_FAST] = "program_fast_calls",
};
static const char *const skip_names[ZC_SKIP_COUNT] = {
    [ZC_SKIP_NONE] = "none",
#define SKIP(id, name, sentence, action) [ZC_SKIP_##id] = name,
#include "skip_reasons.def"
#undef SKIP
};
static const char *const skip_sentences[ZC_SKIP_COUNT] = {
    [ZC_SKIP_NONE] = "",
#define SKIP(id, name, sentence, action) [ZC_SKIP_##id] = sentence,
#include "skip_reasons.def"
#undef SKIP
};

const char *zc_method_label(enum zc_method method)
{
    return method_labels[method];
}

/* In the log a plain call has no method. */
const char *zc_method_name(enum zc_method method)
{
    return method == ZC_PLAIN ? "none" : method_labels[method];
}

const char *zc_skip_name(enum zc_skip reason)
{
    return skip_names[reason];
}

const char *zc_skip_text(enum zc_skip reason)
{
    return skip_sentences[reason];
}
