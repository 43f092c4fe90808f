/* select: the selection steps of the attention-statistics methods (DESIGN §4) over whole layers of
 * statistics that live in backend memory (issue 16): SnapKV/PyramidKV reduce the window rows,
 * pool and take a per-head top-k; H2O takes a per-head top-k of its column sums; CircuitKV builds
 * its two graphs, runs the Neumann series, smooths, ranks and selects one shared set (or one set per
 * head). The CPU functions are the reference and the host plug-ins call them too, so a selection
 * through the backend equals the host one bit for bit; the `_cuda` twins take the same arguments
 * plus a stream, all pointers device memory (kept positions included). */
#ifndef KV_SELECT_H
#define KV_SELECT_H

/* One head's reduction: a (n = L-W) = Σ_r p[r, j] over the W rows p (W, L) (mean: / W), summed in
 * double, rounded once to float (and to half when fp16). acc: n doubles of scratch. */
void select_reduce_row_cpu(float *a, double *acc, const float *p, int L, int W, int mean, int fp16);
/* All H heads: win (H, wm, L) the window rows of queries L-wm..L-1; the last W of them are reduced
 * into a (H, L-W). */
void select_reduce_cpu(float *a, const float *win, int H, int wm, int L, int W, int mean, int fp16);
void select_reduce_cuda(float *a, const float *win, int H, int wm, int L, int W, int mean, int fp16, void *stream);
/* out, x (H, n): 1-D max (avg = 0) or average pooling of each row (kernels/scoring.h pool1d_*). */
void select_pool_cpu(float *out, const float *x, int H, int n, int kernel, int avg);
void select_pool_cuda(float *out, const float *x, int H, int n, int kernel, int avg, void *stream);
/* pos (H, n_keep + W): per head the top n_keep of score row h (stride L-W; ties to the lower
 * position) ascending, then the window L-W..L-1. n_keep <= L-W. */
void select_topk_window_cpu(int *pos, const float *score, int H, int L, int W, int n_keep);
void select_topk_window_cuda(int *pos, const float *score, int H, int L, int W, int n_keep, void *stream);

/* CircuitKV's knobs as the selection reads them (engine/methods/circuitkv.c). */
typedef struct {
    int W, s, n_qi, K, qi_kernel, hi_kernel;
    double mass_threshold, gamma, qi_sigma, hi_sigma, sink_weight;
} circuit_params;

/* The two graphs (W, N) of one layer from win (H, wm, N) (its last W rows): head >= 0: that
 * head's rows in both (per-head mode); head < 0: QI = elementwise max over the n_qi heads of
 * lowest mean row entropy, HI = mean over the heads with mean mass past the sinks >= the
 * threshold (all heads when none). */
void circuit_graph_cpu(double *aq, double *ah, const float *win, int H, int wm, int N, const circuit_params *p,
                       int head);
void circuit_graph_cuda(double *aq, double *ah, const float *win, int H, int wm, int N, const circuit_params *p,
                        int head, void *stream);
/* Chains, Neumann visits, smoothing and ranks of both graphs: rq, rh (N each), what the kept set of
 * any budget is chosen from (circuit_select_cpu). */
void circuit_ranks_cpu(int *rq, int *rh, const double *aq, const double *ah, int N, const circuit_params *p);
/* circuit_ranks_cpu, then the kept set (budget C) into out ascending; returns its count
 * s + W + min(C-s-W, N-W-s). */
int circuit_select_graph_cpu(int *out, const double *aq, const double *ah, int N, const circuit_params *p, int C);
int circuit_select_graph_cuda(int *out, const double *aq, const double *ah, int N, const circuit_params *p, int C,
                              void *stream);

#endif
