/* show_extras: what `kvbench show` prints from issue 18's outputs — the kept-set picture of one
 * sample (--kept SAMPLE, an SVG on stdout, from the item files) and the attention recall table
 * after the score tables (from DIR/recall.csv, when the reducer wrote one). */
#ifndef KV_SHOW_EXTRAS_H
#define KV_SHOW_EXTRAS_H

/* Exit status: 0, or 1 with one error line. budget < 0: every budget. */
int show_kept(const char *dir, const char *mname, const char *task, int budget, int sample);
/* The recall rows of DIR/recall.csv matching model/budget (NULL/-1: any) as a markdown table (fmt
 * "md") or CSV lines; nothing when the file is absent. */
void show_recall(const char *dir, const char *mname, int budget, const char *fmt);

#endif
