/* util: the error-reporting convention shared by every loader and parser (return a status, leave
 * one message describing what/where/expected), plus small allocation, file and clock helpers. */
#ifndef KV_UTIL_H
#define KV_UTIL_H

#include <stddef.h>
#include <stdint.h>

#define KV_OK 0
#define KV_ERR (-1)

/* Record the message of the error being returned (thread-local; the last call wins). */
void kv_seterr(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* The message recorded by the last failing call on this thread ("" if none). */
const char *kv_lasterr(void);

/* Fatal error for code that cannot continue (out of memory, broken invariant): prints
 * "kvbench: error: ..." with host and rank, runs the fatal hook (MPI_Abort when MPI is up), exits 1. */
void kv_die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
void kv_set_fatal_hook(void (*hook)(int code));
void kv_set_rank(int rank);

void *kv_malloc(size_t n);               /* dies on out-of-memory; never returns NULL; from 4 MiB up on
                                          * transparent huge pages where the kernel grants them */
/* Bytes of this process's memory on transparent huge pages now (AnonHugePages of
 * /proc/self/smaps_rollup), or -1 where the kernel does not say. */
long long kv_huge_page_bytes(void);
void *kv_calloc(size_t n, size_t size);
void *kv_realloc(void *p, size_t n);
char *kv_strdup(const char *s);

/* Read a whole file into a NUL-terminated buffer (the caller frees). Status; message names the path. */
int kv_read_file(const char *path, char **data, size_t *len);
int kv_file_exists(const char *path);
/* Map a regular file read-only (private) for a loader. An empty file maps to NULL with size 0: the
 * caller says what it expected. Status; the message names the path (cannot open, not a regular
 * file, mmap failed). Unmap with kv_unmap_file. */
int kv_map_file(const char *path, const uint8_t **map, size_t *size);
void kv_unmap_file(const uint8_t *map, size_t size);
int kv_is_dir(const char *path);

double kv_now(void); /* monotonic seconds */
/* The median of v[0..n-1] (n >= 1; v is sorted in place). */
double kv_median(double *v, int n);

#endif
