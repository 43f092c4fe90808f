/* store_space: what a run says when its result folder's file system is full (issue 19). The item
 * in flight is dropped (store_write_item leaves nothing at the final path), every stored item
 * stays as it was, and the error estimates the space the items still to do need from the sizes
 * of the item files already written, so the user knows how much to free before the rerun. */
#ifndef KV_STORE_SPACE_H
#define KV_STORE_SPACE_H

#include <stddef.h>

#include "harness/sweep/workplan.h"

/* 1 when err (an errno) means the file system or quota is full. */
int store_space_full(int err);

/* For the n planned items (paths relative to dir): how many have no item file yet (*left), the
 * mean size of the item files stored under dir/items (*mean, 0 when none; *n_stored of them), the
 * estimate *need = left x mean, and the bytes free for unprivileged users on dir's file system
 * (*avail, -1 when unknown). */
void store_space_estimate(const char *dir, const work_item *items, int n, int *left, double *mean, int *n_stored,
                          double *need, double *avail);

/* The one error line (without "kvbench: error: ") for a write to dir that failed with a full disk
 * while `file` was being written, into msg[cap]. */
void store_space_message(const char *dir, const char *file, const work_item *items, int n, char *msg, size_t cap);

#endif
