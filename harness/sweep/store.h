/* store: one HDF5 file per finished work item (DESIGN §6), written under a temporary name, fsync'd
 * and renamed so that a reader sees either nothing or a complete file; reading those files back
 * for resume and for the reducer; small HDF5 helpers (variable-length UTF-8 strings) shared with
 * the summary writer.
 *
 * Item file layout (every string variable-length UTF-8):
 *   /               attributes: format ("kvbench-item-1"), sweep, sweep_hash, model, model_path,
 *                   model_hash, family, dtype, chat, max_prompt_tokens, tensor_parallel, stop_ids,
 *                   task, data_file, data_hash, preset, max_new_tokens (override, 0 = task's),
 *                   engine_rev, host, device, backend, rank, world, created (UTC ISO 8601),
 *                   load_s, io_s
 *   /variants/      key (every knob: variant_describe), label, method, budget, cell_hash   (nv)
 *   /samples/       index, id, prompt_tokens_raw, prompt_tokens, prefill_s, compress_s,
 *                   decode_s                                                            (ns)
 *   /results/       prediction, n_generated, stopped, kept_mean, kept_min, kept_max,
 *                   kept_expected, score                                                (ns, nv)
 */
#ifndef KV_STORE_H
#define KV_STORE_H

#include <hdf5.h>
#include <stdint.h>

typedef struct {
    char *prediction;
    int n_generated, stopped;
    double kept_mean;
    int kept_min, kept_max;
    int kept_expected;       /* the method's promised kept length for layer 0 (-1 if not checked) */
    double score;            /* raw per-sample score in [0, 1] */
} var_result;

typedef struct {
    int index;               /* line in the task file, 0-based */
    char *id;                /* the sample's _id */
    int prompt_tokens_raw, prompt_tokens;
    double prefill_s, compress_s, decode_s;
} sample_info;

/* Provenance attributes of an item file (all strings owned by the struct). */
typedef struct {
    char *sweep, *sweep_hash, *model, *model_path, *model_hash, *family, *dtype, *chat;
    char *task, *data_file, *data_hash, *preset, *engine_rev, *host, *device, *backend, *created;
    int max_prompt_tokens, tensor_parallel, max_new_tokens, rank, world;
    int stop_ids[8], n_stop_ids;
    double load_s, io_s;
} item_prov;

typedef struct {
    item_prov prov;
    int nv, ns;
    char **var_key, **var_label, **var_method;  /* (nv) */
    int *var_budget;                            /* (nv) */
    sample_info *samples;                       /* (ns) */
    var_result *res;                            /* (ns * nv), row-major by sample */
} item_record;

void item_record_alloc(item_record *r, int ns, int nv);  /* zeroed arrays */
void item_record_free(item_record *r);

/* Write `rec` to DIR/rel_path via DIR/rel_path.tmp.<rank>.<pid>, fsync, rename. Creates folders.
 * Status; nothing is left at the final path on failure. */
int store_write_item(const char *dir, const char *rel_path, const item_record *rec, int rank);
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

/* The engine's source revision ("git describe --always --dirty" of the build tree, else "unknown"). */
const char *store_engine_rev(void);
/* "2026-01-31T12:00:00Z" now. */
void store_utc_now(char *buf, size_t n);

#endif
