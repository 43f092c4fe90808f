/* recall: attention recall of a compressed KV cache during decoding (issue 18). For one decode step
 * of one sequence and query head h, with the sequence's own query q (the step's token, post-RoPE):
 *   p_j = softmax_j(q·k_j / sqrt(hd)) over ALL L prompt keys of the prefix store (not only the kept
 *         ones) followed by the sequence's n_tail generated-token keys (the current one included),
 *         i.e. the distribution the full model would have with this query and this history;
 *   recall = 1 − Σ_{j prompt position not in the view} p_j.
 * Generated tokens count as kept: every variant keeps its whole tail, so only evicted prompt
 * positions lose mass. A view that keeps every prompt position has recall exactly 1 (nothing is
 * subtracted). Query head h reads KV head h / (H/Hkv) and kept row h of the view. */
#ifndef KV_RECALL_H
#define KV_RECALL_H

typedef struct {
    const float *k_prefix; /* (L, Hkv*hd) the prompt's post-RoPE keys of this layer (all of them) */
    int L;
    const int *pos;        /* (H, cap) kept prompt positions, strictly increasing per head */
    const int *len;        /* (H) */
    int cap;
    const float *k_tail;   /* (n_tail, Hkv*hd) generated tokens' keys, the current one included */
    int n_tail;            /* the tail length, or its bound when n_tail_at is set */
    const int *n_tail_at;  /* when non-NULL the tail length is read here when the op runs (graphs) */
} recall_seq;

static inline int recall_seq_tail(const recall_seq *s) { return s->n_tail_at ? *s->n_tail_at : s->n_tail; }

/* out (B, H): the recall of every sequence and query head; q (B, H*hd). The CPU form is the oracle:
 * logits in fp32 as decode_attention_cpu, the exponentials summed in double. */
void attention_recall_cpu(float *out, const float *q, const recall_seq *seqs, int B, int H, int Hkv, int hd);
/* Device twin: one block per (head, sequence), the sums reduced over the block in fp32. seqs is a
 * host array whose pointers are device memory (passed by value as a kernel parameter). */
void attention_recall_cuda(float *out, const float *q, const recall_seq *seqs, int B, int H, int Hkv, int hd,
                           void *stream);

#endif
