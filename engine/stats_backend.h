/* stats_backend: one layer's compression statistics computed through the backend (DESIGN §3 "One
 * prefill, many caches", §7). The prefill's q, k and lse stay in backend memory (on the device for
 * CUDA); each rank computes the window softmax rows and H2O column sums of its own query heads
 * with the backend's window_softmax / h2o_colsum, the tensor-parallel group all-gathers the
 * results (heads are split in contiguous rank blocks, so rank order is head order), and only the
 * results go to the host buffers of compress_layer_stats — never q or k. On the CPU backend
 * without TP the statistics are computed straight into those buffers. With device selection
 * (a backend with selection ops and memory of its own — CUDA, the CPU's simulated device — unless
 * KVBENCH_DEVICE_SELECT=0) the statistics stay in backend memory, the attention-statistics methods
 * select there (engine/select_device.h) into device views (only the kept counts reach the host, the
 * kept sets too when exported); under TP each rank then computes its own heads' block and the
 * per-head methods select from it with no all-gather (gather_dev below). */
#ifndef KV_STATS_BACKEND_H
#define KV_STATS_BACKEND_H

#include "engine/backend.h"
#include "engine/comm.h"
#include "engine/compress.h"
#include "engine/layer_stats.h"
#include "engine/select_device.h"

typedef struct {
    backend *be;
    const comm *tp;      /* NULL: no tensor parallelism */
    compress_ctx *cc;
    int L, H, Hkv, hd;   /* H, Hkv: this rank's query / KV heads */
    int direct;          /* compute straight into the host buffers (host memory, no TP) */
    float *local;        /* backend (H, n) for the largest statistic; NULL when direct */
    float *gather;       /* backend (T*H, n) all-gather target: TP on device memory only */
    float *hq, *hk, *hv; /* host copies of q, k, v for the kvpress-style statistics (device backends) */
    /* Device selection (issue 16): the statistics stay in backend buffers (dev.win, dev.h2o[].colsum,
     * n_heads wide) and the methods with a select_device step select there; to the host only when
     * host_stats (some variant still selects on the host). */
    int device, host_stats;
    /* Under TP with device selection: 1 when the statistics are all-gathered into dev (a variant
     * shares one set across heads, a host plug-in reads them, or the kept sets are exported); 0:
     * each rank computes its own heads' block of dev and selects over those heads alone. */
    int gather_dev;
    struct layer_stats dev;
    select_dev sd;
} stats_backend;

/* Prepares the buffers for cc's statistics at prompt length L. H, Hkv: this rank's heads (the
 * model's divided by the TP size); tp NULL without TP. Status (a head split that does not tile
 * cc's heads is KV_ERR). */
int stats_backend_open(stats_backend *sb, backend *be, const comm *tp, compress_ctx *cc, int L, int H, int Hkv,
                       int hd);
/* Fills every buffer of compress_layer_stats(cc) for one layer from this rank's post-RoPE
 * q (L, H*hd), k and v (L, Hkv*hd) and the prefill's lse (H, L), all backend memory. Collective
 * over the TP group. The kvpress-style statistics (LAYER_NEED_*) are computed on the host
 * (compress_host_stats) from the backend's q, k, v — directly on the CPU backend, else after a
 * copy of what they read (k, v: 2·L·Hkv·hd floats, q: L·H·hd, per layer); not under TP. Status. */
int stats_backend_compute(stats_backend *sb, const float *q, const float *k, const float *v, const float *lse);
/* After stats_backend_compute: the device selection of layer `layer` for the variants marked by
 * compress_use_device (nothing without device selection). Status. */
int stats_backend_select(stats_backend *sb, int layer);
void stats_backend_close(stats_backend *sb);

#endif
