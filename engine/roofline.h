/* roofline: the physical limits a throughput figure is printed next to (DESIGN §7, STYLE "Tests
 * and numbers"). Given a model shape, the work done and the seconds it took: bytes/s and FLOP/s
 * achieved, the device's peak, the percentage, and the time the roofline allows. Decode is
 * bandwidth-bound (every weight and every cached K/V row read once per step); prefill is
 * compute-bound (2 FLOPs per weight per token plus the causal attention products). */
#ifndef KV_ROOFLINE_H
#define KV_ROOFLINE_H

#include "engine/model.h"

typedef struct {
    const char *name;       /* matched case-insensitively inside the backend's device string */
    double hbm_bytes_per_s; /* memory bandwidth */
    double bf16_flop_per_s; /* dense bf16 tensor-core peak (no sparsity) */
} roofline_device;

/* NVIDIA H200 SXM: 4.8 TB/s HBM3e, ~989 TFLOP/s dense bf16. */
extern const roofline_device ROOFLINE_H200;
/* NVIDIA H100 SXM: 3.35 TB/s HBM3, ~989 TFLOP/s dense bf16. */
extern const roofline_device ROOFLINE_H100;

/* The device whose name occurs in `device` (a backend's device string), or NULL if unknown (the
 * CPU backend measures its own bandwidth instead). */
const roofline_device *roofline_device_find(const char *device);

/* Parameters of the model (embeddings, lm_head unless tied, all layers, final norm). */
double roofline_params(const model_config *c);

/* Per tensor-parallel shard of tp ranks: layer matrices and heads split tp ways, embedding and
 * lm_head counted whole (the bound for a rank that holds them unsplit). tp = 1: the whole model. */
double roofline_shard_params(const model_config *c, int tp);

/* Bytes one decode step reads: the shard's weights once (weight_bytes per parameter: 2 for bf16,
 * 4 for fp32) plus, for each of `batch` sequences, kv_tokens cached tokens' K and V in every layer
 * at kv_bytes per element (4: the engine keeps K/V in fp32). */
double roofline_decode_bytes(const model_config *c, int tp, double weight_bytes, int batch, double kv_tokens,
                             double kv_bytes);

/* FLOPs of a prefill of L tokens on a shard: 2·(layer params)·L for the linear layers, 2·dim·vocab
 * for the last position's logits, and 2·2·hd·H·L(L+1)/2 per layer for the causal QK^T and PV. */
double roofline_prefill_flops(const model_config *c, int tp, int L);

/* Multiply-adds of one decode token on a shard: its linear layers, and the logits (the lm_head
 * counted whole). */
double roofline_decode_macs(const model_config *c, int tp);

/* Multiply-adds of one decode token's attention over kv_tokens cached tokens per query head: the
 * scores (q.k) and the weighted sum of values, hd each, in every layer and head of the shard. */
double roofline_attention_macs(const model_config *c, int tp, double kv_tokens);

typedef struct {
    double achieved;  /* bytes/s or FLOP/s */
    double peak;      /* the device's bytes/s or FLOP/s (0 if unknown) */
    double percent;   /* 100 · achieved / peak (0 if unknown) */
    double bound_s;   /* the work divided by the peak: the fastest the step could be */
} roofline_point;

roofline_point roofline_decode(const roofline_device *d, double bytes, double seconds);
roofline_point roofline_prefill(const roofline_device *d, double flops, double seconds);

#endif
