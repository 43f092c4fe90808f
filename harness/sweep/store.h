/* store: one HDF5 file per finished work item (DESIGN §6), written under a temporary name, fsync'd
 * and renamed so that a reader sees either nothing or a complete file; reading those files back
 * for resume and for the reducer; small HDF5 helpers (variable-length UTF-8 strings) shared with
 * the summary writer.
 *
 * Item file layout (every string variable-length UTF-8), each part listed once below as an
 * X-macro that generates its struct, its write, its read, its free and the summary's columns:
 *   /               attribute format ("kvbench-item-1"), then ITEM_PROV_FIELDS
 *   /variants/      ITEM_VARIANT_FIELDS, then cell_hash (model, task, key)               (nv)
 *   /samples/       ITEM_SAMPLE_FIELDS                                                    (ns)
 *   /results/       ITEM_RESULT_FIELDS                                                    (ns, nv)
 */
#ifndef KV_STORE_H
#define KV_STORE_H

#include <hdf5.h>
#include <stddef.h>
#include <stdint.h>

/* Column kinds: STR (char *, owned, variable-length UTF-8), INT (int), DBL (double), IDS (a short
 * int list: int NAME[ITEM_MAX_IDS] plus int n_NAME; stored as a 1-D attribute). */
#define ITEM_MAX_IDS 8

/* Provenance: the root attributes of an item file, in file order, X(KIND, name). The sweep and
 * its file hash; the model (name, path, SHA-256 of the weight headers, family, engine precision,
 * the formats its weight matrices were held and computed in ("q4_1+q8_0" as stored, "f32", ...;
 * "q4_1+q8_0, activations q8 (vnni)" when decode quantized its activations),
 * chat wrapper or "preset", truncation length, ranks per copy, the configured extra stop ids after
 * the tokenizer's eos: [] = eos only); the task and its data file with FNV-1a hash; the preset and the generation cap
 * override (0 = the task's); where it ran (git describe of the build, host, device, backend, rank,
 * world, UTC ISO 8601 time); load_s, the model load attributed to the item, and io_s, the reading
 * of its task data plus the writing of its datasets. */
#define ITEM_PROV_FIELDS(X)                                                                       \
    X(STR, sweep) X(STR, sweep_hash)                                                              \
    X(STR, model) X(STR, model_path) X(STR, model_hash) X(STR, family) X(STR, dtype)              \
    X(STR, weights) X(STR, chat)                                                                  \
    X(INT, max_prompt_tokens) X(INT, tensor_parallel) X(IDS, stop_ids)                            \
    X(STR, task) X(STR, data_file) X(STR, data_hash) X(STR, preset) X(INT, max_new_tokens)        \
    X(STR, engine_rev) X(STR, host) X(STR, device) X(STR, backend)                                \
    X(INT, rank) X(INT, world) X(STR, created) X(DBL, load_s) X(DBL, io_s)

/* One variant of the item, /variants (nv): key = every knob (variant_describe), the identity used
 * by resume and the reducer; the table row label; the method's display name; the budget (0 for
 * FullKV). */
#define ITEM_VARIANT_FIELDS(X) X(STR, key) X(STR, label) X(STR, method) X(INT, budget)

/* One sample of the item, /samples (ns): its line in the task file (0-based) and _id, the prompt
 * length before and after truncation, and the seconds of its prefill, method scoring and decode. */
#define ITEM_SAMPLE_FIELDS(X)                                                                     \
    X(INT, index) X(STR, id) X(INT, prompt_tokens_raw) X(INT, prompt_tokens)                      \
    X(DBL, prefill_s) X(DBL, compress_s) X(DBL, decode_s)

/* One (sample, variant) result, /results (ns, nv) row-major by sample: the generated text, tokens
 * generated, 1 if a stop id ended it, the kept length (mean, min, max over layers and heads), the
 * method's promised kept length for layer 0 (-1 if not checked), the raw score in [0, 1]. */
#define ITEM_RESULT_FIELDS(X)                                                                     \
    X(STR, prediction) X(INT, n_generated) X(INT, stopped)                                        \
    X(DBL, kept_mean) X(INT, kept_min) X(INT, kept_max) X(INT, kept_expected) X(DBL, score)

#define ITEM_MEMBER_STR(name) char *name;
#define ITEM_MEMBER_INT(name) int name;
#define ITEM_MEMBER_DBL(name) double name;
#define ITEM_MEMBER_IDS(name) int name[ITEM_MAX_IDS], n_##name;
#define ITEM_MEMBER(kind, name) ITEM_MEMBER_##kind(name)

typedef struct { ITEM_PROV_FIELDS(ITEM_MEMBER) } item_prov;
typedef struct { ITEM_VARIANT_FIELDS(ITEM_MEMBER) } item_variant;
typedef struct { ITEM_SAMPLE_FIELDS(ITEM_MEMBER) } sample_info;
typedef struct { ITEM_RESULT_FIELDS(ITEM_MEMBER) } var_result;

/* A column of one of the lists above, for the table-driven write/read (h5_write_col, h5_read_col). */
typedef enum { COL_STR, COL_INT, COL_DBL, COL_IDS } col_kind;
typedef struct {
    const char *name;
    col_kind kind;
    size_t offset;       /* of the member in its struct (COL_IDS: the array; its count follows it) */
} col_desc;
#define ITEM_COL_DESC(st, kind, name) {#name, COL_##kind, offsetof(st, name)},
#define ITEM_COL_PROV(kind, name) ITEM_COL_DESC(item_prov, kind, name)
#define ITEM_COL_VARIANT(kind, name) ITEM_COL_DESC(item_variant, kind, name)
#define ITEM_COL_SAMPLE(kind, name) ITEM_COL_DESC(sample_info, kind, name)
#define ITEM_COL_RESULT(kind, name) ITEM_COL_DESC(var_result, kind, name)
extern const col_desc item_prov_cols[], item_variant_cols[], item_sample_cols[], item_result_cols[];
extern const int item_prov_ncols, item_variant_ncols, item_sample_ncols, item_result_ncols;

struct item_analysis; /* harness/sweep/analysis.h */
typedef struct {
    item_prov prov;
    int nv, ns;
    struct item_analysis *an;                   /* recall and kept sets (issue 18), NULL: none */
    item_variant *var;                          /* (nv) */
    sample_info *samples;                       /* (ns) */
    var_result *res;                            /* (ns * nv), row-major by sample */
} item_record;

void item_record_alloc(item_record *r, int ns, int nv);  /* zeroed arrays */
void item_record_free(item_record *r);

/* Write `rec` to DIR/rel_path via DIR/rel_path.tmp.<rank>.<pid>, fsync, rename. Creates folders.
 * Status; nothing is left at the final path on failure. */
int store_write_item(const char *dir, const char *rel_path, const item_record *rec, int rank);
/* errno of the last store_write_item that failed (0 after a success): ENOSPC for a full disk. */
int store_write_errno(void);
/* Read a whole item file. Status; the message names the file. */
int store_read_item(const char *path, item_record *rec);

/* Only what resume needs: model, task, sample indices and variant keys (no predictions), into
 * a record whose other fields stay empty (item_record_free frees it). Status. */
int store_read_item_keys(const char *path, item_record *rec);

/* Every finished item file under DIR/items (sorted by path; temporaries skipped). With
 * remove_stale, temporaries (*.tmp.*) left by killed ranks are deleted. The caller frees. */
int store_list_items(const char *dir, int remove_stale, char ***paths, int *n);
void store_paths_free(char **paths, int n);

/* mkdir -p. Status. */
int store_mkdirs(const char *path);

/* HDF5 helpers (status returns; strings are variable-length UTF-8). */
int h5_attr_str(hid_t obj, const char *name, const char *value);
int h5_attr_int(hid_t obj, const char *name, long long value);
int h5_attr_double(hid_t obj, const char *name, double value);
int h5_attr_ints(hid_t obj, const char *name, const int *v, int n);
char *h5_attr_get_str(hid_t obj, const char *name);   /* malloc'd, NULL if absent */
int h5_attr_get_int(hid_t obj, const char *name, long long *v);
int h5_attr_get_double(hid_t obj, const char *name, double *v);
/* Datasets of rank 1 (dims[1] == 0) or 2. */
int h5_write_strs(hid_t loc, const char *name, const char *const *v, hsize_t d0, hsize_t d1);
int h5_write_ints(hid_t loc, const char *name, const int *v, hsize_t d0, hsize_t d1);
int h5_write_doubles(hid_t loc, const char *name, const double *v, hsize_t d0, hsize_t d1);
/* Read a dataset of exactly `count` elements. Strings are malloc'd (the caller frees each). */
int h5_read_strs(hid_t loc, const char *name, char **v, size_t count);
int h5_read_ints(hid_t loc, const char *name, int *v, size_t count);
int h5_read_doubles(hid_t loc, const char *name, double *v, size_t count);
/* An int-list attribute (h5_attr_ints) into v[cap]; *n its length (an empty list reads as 0). */
int h5_attr_get_ints(hid_t obj, const char *name, int *v, int cap, int *n);

/* Table-driven columns: column c of `count` structs at base (stride bytes apart), or of the structs
 * rows[i] points to when rows is not NULL, as a dataset of shape (d0) or (d0, d1) (write), or back
 * into the structs (read; strings malloc'd). A COL_IDS column is written as strings "2,9" (the
 * summary) and is not read back from datasets (item files keep it as an attribute). Status. */
int h5_write_col(hid_t loc, const col_desc *c, const void *base, size_t stride, const void *const *rows,
                 hsize_t d0, hsize_t d1);
int h5_read_col(hid_t loc, const col_desc *c, void *base, size_t stride, size_t count);
/* Attributes: every column of `cols` from/into the one struct at p (strings malloc'd; absent -> ""/0). */
int h5_write_attrs(hid_t obj, const col_desc *cols, int n, const void *p);
void h5_read_attrs(hid_t obj, const col_desc *cols, int n, void *p);
/* Free the strings of the COL_STR columns of the struct at p and set them to NULL. */
void col_free_strs(const col_desc *cols, int n, void *p);

/* The engine's source revision ("git describe --always --dirty" of the build tree, else "unknown"). */
const char *store_engine_rev(void);
/* "2026-01-31T12:00:00Z" now. */
void store_utc_now(char *buf, size_t n);

#endif
