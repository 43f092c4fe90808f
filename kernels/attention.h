/* attention: causal prefill self-attention with grouped-query heads, flash-style (row blocks, no
 * L×L buffer), also returning each row's log-sum-exp which the compression statistics reuse. */
#ifndef KV_ATTENTION_H
#define KV_ATTENTION_H

/* q: (L, H*hd), k, v: (L, Hkv*hd), post-RoPE. out: (L, H*hd). lse: (H, L), natural log of
 * sum_j exp(q_i·k_j / sqrt(hd)) over j <= i. Query head h reads KV head h / (H/Hkv). */
void attention_prefill_cpu(float *out, float *lse, const float *q, const float *k, const float *v,
                           int L, int H, int Hkv, int hd);
void attention_prefill_cuda(float *out, float *lse, const float *q, const float *k, const float *v,
                            int L, int H, int Hkv, int hd, void *stream);
/* The same on the tensor cores: q, k, v rounded to bf16 (fp16 when fp16 != 0, the reference's
 * torch.float16), products, softmax and sums in fp32, probabilities in the same half type for P·V
 * (head_dim 64 or 128; other sizes run attention_prefill_cuda). */
void attention_prefill_tc_cuda(float *out, float *lse, const float *q, const float *k, const float *v,
                               int L, int H, int Hkv, int hd, int fp16, void *stream);

#endif
