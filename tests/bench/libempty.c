/* An empty library for LD_PRELOAD: what preloading any library costs a
 * program (its mappings, copied by every fork), without zcopy's hooks.
 * W4 runs writev-httpd under it as the floor for zcopy's per-fork cost. */
int zcopy_bench_empty_library;
