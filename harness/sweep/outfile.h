/* outfile: the reducer's text outputs (tables, CSV, SVG) written whole or not at all. Each is
 * written to FINAL.tmp.<pid> and renamed over FINAL on commit, so a reader (`show`, another
 * `reduce --to`) sees the previous complete file or the new one, never a partial one. */
#ifndef KV_OUTFILE_H
#define KV_OUTFILE_H

#include <stdio.h>

/* Opens a temporary beside final (its name in tmp, n bytes); NULL with kv_seterr on failure. */
FILE *outfile_open(const char *final, char *tmp, size_t n);
/* The same, starting with final's current contents (if any): to add a section to a written file. */
FILE *outfile_open_append(const char *final, char *tmp, size_t n);
/* Closes f and renames tmp over final; on any write error removes tmp, kv_seterr, KV_ERR. */
int outfile_commit(FILE *f, const char *tmp, const char *final);
/* Closes f and removes tmp (a writer that failed before commit). */
void outfile_discard(FILE *f, const char *tmp);

#endif
