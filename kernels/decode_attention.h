/* decode_attention: one new query per sequence of a batch, attending to that sequence's view of
 * the shared prompt K/V (kept positions per query head) plus its own tail of generated tokens. */
#ifndef KV_DECODE_ATTENTION_H
#define KV_DECODE_ATTENTION_H

typedef struct {
    const float *k_prefix, *v_prefix; /* (L, Hkv*hd) post-RoPE prompt K/V of this layer */
    const int *pos;                   /* (H, cap) kept prompt positions of this layer */
    const int *len;                   /* (H) */
    int cap;
    const float *k_tail, *v_tail;     /* (n_tail, Hkv*hd) generated tokens, the current one included */
    int n_tail;
} decode_seq;

/* out, q: (B, H*hd). */
void decode_attention_cpu(float *out, const float *q, const decode_seq *seqs, int B, int H, int Hkv, int hd);
void decode_attention_cuda(float *out, const float *q, const decode_seq *seqs, int B, int H, int Hkv, int hd,
                           void *stream);

#endif
