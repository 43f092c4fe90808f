/* scoring: the per-layer statistics KV-cache compression methods rank prompt positions with
 * (DESIGN §4): softmax rows of the last W queries, H2O column sums in three modes, 1-D pooling,
 * per-head top-k with the lowest-position tie rule, and CircuitKV's absorbing Markov chain with its
 * truncated Neumann series. These are the CPU references (the test oracle); CUDA twins take the
 * same arguments plus a stream and are declared next to them as `<op>_cuda` when they exist. */
#ifndef KV_SCORING_H
#define KV_SCORING_H

#include <stdint.h>

/* IEEE binary16 emulation (the reference-2026-01 preset rounds scores to fp16): util/half.h. */
#include "util/half.h"

/* ---- window softmax rows ---- */

/* How the reference's fp16 model rounds the window scores (the fp16 argument below):
 * SCORE_FP32 none; SCORE_FP16 the q·k product and the scaled logit each rounded to half, softmax
 * in fp32 over those, its outputs rounded to half (SnapKV/PyramidKV/H2O: .to(query dtype));
 * SCORE_FP16_LOGITS the same logits, softmax outputs kept in fp32 (CircuitKV's graph rows). */
enum { SCORE_FP32 = 0, SCORE_FP16 = 1, SCORE_FP16_LOGITS = 2 };

/* out (H, W, L): for query head h and window row r (query i = L-W+r), softmax over all L keys of
 * q_i·k_j/sqrt(hd) with the causal mask (j > i → probability 0). q: (L, H*hd), k: (L, Hkv*hd);
 * head h reads KV head h / (H/Hkv). fp16: a SCORE_* rounding mode. */
void window_softmax_cpu(float *out, const float *q, const float *k, int L, int H, int Hkv, int hd, int W,
                        int fp16);
void window_softmax_cuda(float *out, const float *q, const float *k, int L, int H, int Hkv, int hd, int W,
                         int fp16, void *stream);

/* ---- H2O accumulated attention ---- */

typedef enum { H2O_CAUSAL = 0, H2O_PREFIX = 1, H2O_UPSTREAM = 2 } h2o_mode;

/* out (H, L-W): per query head, Σ over all L prompt queries i of P[i,j] for keys j < L-W, where
 *   H2O_CAUSAL:   P = causal softmax over keys 0..i; uses lse (H, L) of the prefill rows (the
 *                 natural-log normaliser of each causal row) unless fp16, which needs its own;
 *   H2O_PREFIX:   P = softmax over keys 0..L-W-1 only, no mask;
 *   H2O_UPSTREAM: P = softmax over all L keys, masked only on the last W×W block (j > i).
 * Row blocks of queries against keys via sgemm: memory O(block·L) per thread, never L×L.
 * fp16: as window_softmax_cpu, and each column sum rounded to half. lse may be NULL unless
 * mode == H2O_CAUSAL && !fp16. */
void h2o_colsum_cpu(float *out, const float *q, const float *k, const float *lse, int L, int H, int Hkv,
                    int hd, int W, h2o_mode mode, int fp16);
/* The two-pass form in every mode: each row's (max, 1/sum) under the mode's mask, then the column
 * sums, both from the same fp32 logits. lse is not read: the prefill's on the device may come from
 * the bf16 tensor-core attention, whose logits differ from these (rows would not sum to one). */
void h2o_colsum_cuda(float *out, const float *q, const float *k, const float *lse, int L, int H, int Hkv,
                     int hd, int W, h2o_mode mode, int fp16, void *stream);

/* ---- pooling and top-k ---- */

/* 1-D pooling, kernel k, stride 1, padding k/2, output length n (the first n outputs when k is
 * even). max: padding is -inf. avg: zero padding, divided by k (PyTorch count_include_pad). */
void pool1d_max_cpu(float *out, const float *x, int n, int k);
void pool1d_avg_cpu(float *out, const float *x, int n, int k);
void pool1d_max_cuda(float *out, const float *x, int n, int k, void *stream);
void pool1d_avg_cuda(float *out, const float *x, int n, int k, void *stream);

/* The k positions of the largest scores among 0..n-1, ties broken toward the lower position,
 * written to out sorted ascending. scratch: n floats. k is clamped to [0, n]. Returns k. */
int topk_lowest_cpu(int *out, const float *score, int n, int k, float *scratch);
/* Device twin (radix select + ordered compaction, one block); scratch is unused and may be NULL.
 * Returns the clamped k without synchronizing. */
int topk_lowest_cuda(int *out, const float *score, int n, int k, float *scratch, void *stream);

/* ---- CircuitKV (DESIGN §4) ---- */

/* The Markov chain of one graph A (W, N): window row N-W+r is A[r,:] over its full row sum
 * (clamped 1e-8); prefix row i < N-W jumps back to j < i with weight h[j] / (C[i-1] + 1e-8),
 * row-normalised, h[j] = max(Σ_r A[r,j], 1e-6), C the prefix sums of h. States < s absorb. */
typedef struct {
    int N, W, s;
    double *win; /* (W, N) row-normalised window rows */
    double *h;   /* (N-W) */
    double *cum; /* (N-W) C[i] = h[0] + ... + h[i] */
} circuit_chain;

/* Builds the chain from A (W, N) fp32 or fp64 (exactly one of a32/a64 non-NULL); the caller
 * frees with circuit_chain_free. Requires N > W and N - W > s. */
void circuit_chain_init(circuit_chain *ch, const float *a32, const double *a64, int N, int W, int s);
void circuit_chain_free(circuit_chain *ch);

/* y = Q^T x over transient states (entries < s of x ignored, of y zero) without forming Q: the
 * window part is a W×N mat-vec, the prefix part a suffix sum — O(W·N). */
void circuit_apply_qt_cpu(double *y, const double *x, const circuit_chain *ch);

/* Truncated Neumann series with discount gamma: qi = Σ_{k=0..K} (γQ^T)^k e_{N-1} on chain cq,
 * hi = Σ_{k=0..K} (γQ^T)^k u, u uniform 1/(N-s) on transient states, on chain ch. Both series
 * step together and stop early once max|x| and max|u| of the latest step are both < 1e-8.
 * qi, hi: (N), zero on absorbing states. Returns the number of steps taken. */
int circuit_neumann_cpu(double *qi, double *hi, const circuit_chain *cq, const circuit_chain *ch, int K,
                        double gamma);
/* Device twin: the chains' win/h/cum arrays and qi/hi are device memory (the same sizes as the
 * host chain's); the whole series runs in one block. Returns the steps taken (synchronizes). */
int circuit_neumann_cuda(double *qi, double *hi, const circuit_chain *cq, const circuit_chain *ch, int K,
                         double gamma, void *stream);

/* The dense reference for tests: the full transient matrix Q (N, N) (rows/columns < s zero),
 * built naively from the same definition. The caller frees. */
double *circuit_dense_q(const circuit_chain *ch);
/* The same series as circuit_neumann_cpu with dense N×N mat-vecs (tests only; O(K·N²)). */
int circuit_neumann_dense_cpu(double *qi, double *hi, const double *q_qi, const double *q_hi, int N, int s,
                              int K, double gamma);

/* Step 5 of CircuitKV for one series: visit totals on transient states, sink_weight × their sum
 * on each of the s sinks, divided by the max, zero-padded Gaussian smoothing (kernel, sigma;
 * skipped when N <= kernel), then ranks 0..N-1 stable on (score, position). rank: (N). */
void circuit_rank_cpu(int *rank, const double *visits, int N, int s, double sink_weight, int kernel,
                      double sigma);

/* Step 6: positions 0..s-1, the last W, and the top k of s..N-W-1 by max(rank_qi, rank_hi)
 * (ties: the lower position, as the reference's top-k), written to out sorted ascending. Returns the
 * count s + W + min(k, N-W-s). */
int circuit_select_cpu(int *out, const int *rank_qi, const int *rank_hi, int N, int s, int W, int k);

#endif
