/* item_check: decide whether an item file can be trusted (issue 19) and set a damaged one aside.
 * A file is damaged when HDF5 cannot open it, its format attribute is not kvbench-item-1, a
 * required group, dataset or attribute (model, task) is missing, or a dataset's size disagrees
 * with the item's (samples, variants) shape. `run` and `reduce` call this on every file they read;
 * a damaged file moves to DIR/quarantine/<same relative path> so that `run` recomputes it and
 * `reduce` writes the tables from the rest; `kvbench verify` reports it without moving it. */
#ifndef KV_ITEM_CHECK_H
#define KV_ITEM_CHECK_H

#include <stddef.h>

#include "harness/sweep/store.h"

/* Check the item file at path. full: read every column into *rec (as store_read_item); else only
 * open every dataset, check its size, and read what resume needs (as store_read_item_keys).
 * KV_OK: *rec filled (the caller frees it with item_record_free). KV_ERR: *rec empty, why[n] says
 * what is wrong (without the path). */
int item_check(const char *path, int full, item_record *rec, char *why, size_t n);

/* Move DIR/items/<rel> (path) to DIR/quarantine/<rel> (a numeric suffix if that exists) and print
 * one warning line on stderr: the file, why, where it went and `consequence` ("it will be
 * recomputed"). A file already gone (another process moved it) is not an error. Status. */
int item_quarantine(const char *dir, const char *path, const char *why, const char *consequence);

/* Model and task of an item path DIR/items/<model>/<task>/<file>.h5 (from its folders, so it works
 * for an unreadable file) into model[nm], task[nt]. Status. */
int item_path_cell(const char *path, char *model, size_t nm, char *task, size_t nt);

#endif
