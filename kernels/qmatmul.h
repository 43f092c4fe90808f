/* qmatmul: linear layers on weights in their storage format (kernels/qtype.h). For a few rows of
 * activations (decode: batch 1 up to a batch of variants) fused dequantize-dot kernels read each
 * weight byte once, OpenMP over output rows, in three versions chosen at run time: AVX-512, AVX2
 * (+FMA, F16C) and portable C. Every version dequantizes exactly like qtype_dequant_row and
 * accumulates in fp32; only the summation order differs from a dequantize-then-dot reference —
 * except AVX2 with one activation row and Q8_0/Q4_0/Q4_1 weights, which sums d Σ q x + m Σ x per
 * block (kernels/cpu/qmatmul.c, avx2_row1_q). */
#ifndef KV_QMATMUL_H
#define KV_QMATMUL_H

#include "kernels/qtype.h"

typedef enum { QMM_ISA_C, QMM_ISA_AVX2, QMM_ISA_AVX512, QMM_ISA_COUNT } qmm_isa;

/* Up to this many activation rows the CPU backend runs the fused kernels (decode: one token, or a
 * batch of variants and samples); above it the weights are dequantized into an fp32 scratch and
 * BLAS sgemm does the work (prefill), its packed micro-kernels being faster per multiply-add. */
#define QMM_MAX_FUSED_ROWS 64

const char *qmm_isa_name(int isa);   /* "c", "avx2", "avx512" */
int qmm_isa_available(int isa);      /* this CPU runs it (__builtin_cpu_supports) */
/* The best available version, or the one KVBENCH_CPU_ISA=c|avx2|avx512 names (if available). */
int qmm_isa_default(void);

/* out (n, w->rows) = x (n, w->cols) · w^T with the version `isa` (must be available); any n >= 1
 * (the weights are read from memory once; each weight row is reused from L1 by every group of 4
 * activation rows). */
void qmatmul_fused_cpu(int isa, float *out, const float *x, const qmatrix *w, int n);
/* 8-bit activations (engine option activations = q8, llama.cpp's scheme for its CPU decode): each
 * 32-value block of an activation row quantized to int8 with its own scale (d = max|x|/127), exact
 * integer dot products with the quants of Q8_0/Q4_0/Q4_1 weights, each block's sum scaled and added
 * in fp32 with one fused multiply-add (kernels/cpu/qmatmul_q8.c gives the exact sequence). Fewer
 * arithmetic instructions per weight than fp32 activations (4 multiply-adds per lane), at the cost
 * of rounding the activations to ~2 decimal digits per block. A row's outputs have the same bits
 * alone or in a batch, and in every version: portable C, AVX2 (byte multiply-adds) and AVX-512 VNNI. */
typedef enum { QMM_Q8_C, QMM_Q8_AVX2, QMM_Q8_VNNI, QMM_Q8_COUNT } qmm_q8_kernel;
int qmm_q8_supported(int type);  /* Q8_0, Q4_0, Q4_1 */
int qmm_q8_available(int kern);
const char *qmm_q8_name(int kern); /* "c", "avx2", "vnni" */
/* The best q8 kernels for the fp32 kernels' version isa (KVBENCH_CPU_ISA=c keeps the C ones). */
int qmm_q8_for_isa(int isa);
void qmatmul_q8act_cpu(int kern, float *out, const float *x, const qmatrix *w, int n);

/* out[i] (n, w[i]->rows) = x (n, K) · w[i]^T for count (1 .. QMM_MULTI_MAX) matrices of K columns
 * and one type reading the same x (a layer's q, k and v, or gate and up): each out[i] has the bits of
 * its own qmatmul_fused_cpu / qmatmul_q8act_cpu call, in one parallel region instead of count (and,
 * for q8, x quantized once a thread instead of count times). Matrices of different types or widths
 * are done one call each. */
#define QMM_MULTI_MAX 4
void qmatmul_fused_multi_cpu(int isa, float *const *out, const float *x, const qmatrix *const *w, int count, int n);
void qmatmul_q8act_multi_cpu(int kern, float *const *out, const float *x, const qmatrix *const *w, int count, int n);
/* 1 when the count matrices share type and width (what the multi kernels fuse) and count <= QMM_MULTI_MAX. */
int qmm_multi_fusable(const qmatrix *const *w, int count);
/* The work list of the multi kernels: first[i] is the index of matrix i's first chunk of `chunk`
 * output rows among all count matrices' chunks, first[count] their number. Returns the weights'
 * element count (what decides whether the product is worth threads). */
int64_t qmm_chunk_list(const qmatrix *const *w, int count, int64_t chunk, int64_t *first);
/* Chunk ch of that list: its matrix (returned) and output rows [*o0, *o1). */
static inline int qmm_chunk_at(const qmatrix *const *w, const int64_t *first, int64_t chunk, int64_t ch, int64_t *o0,
                               int64_t *o1)
{
    int i = 0;
    while (ch >= first[i + 1]) i++;
    *o0 = (ch - first[i]) * chunk;
    *o1 = *o0 + chunk < w[i]->rows ? *o0 + chunk : w[i]->rows;
    return i;
}

/* The whole matrix dequantized to fp32 (w->rows * w->cols floats), OpenMP over rows; bit-identical
 * to qtype_dequant_row. */
void qmatrix_dequant_cpu(int isa, const qmatrix *w, float *out);

#endif
