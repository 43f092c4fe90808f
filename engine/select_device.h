/* select_device: selection where the statistics are (issue 16). On a backend with selection ops
 * and backend memory of its own (CUDA, or the CPU's simulated device), the statistics of a layer
 * stay in backend buffers; each variant whose method has a select_device step runs it through the
 * backend's ops (kernels/select.h), and only the kept positions (H × kept ints, or one row when the
 * method shares one set across heads) come to the host view. The host plug-ins stay the oracle:
 * the CPU ops are the functions they call. */
#ifndef KV_SELECT_DEVICE_H
#define KV_SELECT_DEVICE_H

#include "engine/backend.h"
#include "engine/compress.h"
#include "engine/layer_stats.h"

typedef struct select_dev {
    backend *be;
    /* The statistics the running step reads, in backend memory: `all` (n_heads wide), or under
     * tensor parallelism with local selection `loc` — this rank's heads h0 .. h0+Hl-1 only, its cfg
     * saying Hl heads — for every method but those that share one set across heads. */
    const struct layer_stats *st;
    const struct layer_stats *all;
    struct layer_stats loc;
    model_config cfg_loc;
    int local, h0;
    float *fa, *fb;               /* backend scratch: n_heads * L floats each */
    double *ga, *gb;              /* backend scratch: gcap doubles each (CircuitKV graphs, W * L) */
    long gcap;
    int *pos;                     /* backend (n_heads, L): the kept positions a step writes */
    int *host_pos;                /* host staging of pos */
} select_dev;

/* What a method's select_device step reports: kept positions per head (every head the same
 * count) and whether only row 0 was written (one set shared by all heads). */
typedef struct select_dev_out {
    int count, shared;
} select_dev_out;

/* Buffers for the statistics dev_st (host layout, backend memory) at prompt length L. local: a
 * tensor-parallel rank that selects per-head methods over its own heads h0 .. h0+Hl-1 (KV heads
 * Hkvl), whose rows of dev_st it computed itself (no all-gather). */
void select_dev_open(select_dev *d, backend *be, const struct layer_stats *dev_st, int L, int local, int h0, int Hl,
                     int Hkvl);
void select_dev_close(select_dev *d);
/* Runs every device-selected variant of cc (compress_device_variant) for `layer`: the kept sets go
 * to its device view (compress_device_view; under local selection only this rank's heads' rows) and
 * to the host view rows when compress_rows_to_host; the host view gets every head's kept count.
 * Status. */
int select_dev_layer(select_dev *d, compress_ctx *cc, int layer);

#endif
