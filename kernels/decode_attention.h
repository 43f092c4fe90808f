/* decode_attention: one new query per sequence of a batch, attending to that sequence's view of
 * the shared prompt K/V (kept positions per query head) plus its own tail of generated tokens. */
#ifndef KV_DECODE_ATTENTION_H
#define KV_DECODE_ATTENTION_H

typedef struct {
    const float *k_prefix, *v_prefix; /* (L, Hkv*hd) post-RoPE prompt K/V of this layer */
    const int *pos;                   /* (H, cap) kept prompt positions of this layer */
    const int *len;                   /* (H) */
    int cap;
    float *k_tail, *v_tail;           /* (tail_cap, Hkv*hd) generated tokens, the current one included */
    int n_tail;                       /* tail entries to attend to; with n_tail_at: an upper bound */
    /* When non-NULL, the tail length is read from this int in kernel memory when the kernel runs, and
     * n_tail only bounds it: a decode step captured once in a CUDA graph is replayed with a new
     * count uploaded before each launch, the descriptors (kernel parameters) unchanged. */
    const int *n_tail_at;
    /* Nonzero: every sequence of a call carries the same id, and a later call with that id (and the
     * same descriptors) has the same views — pos, len, prefixes — so a kernel may keep what it derived
     * from them (the CPU keeps its plan of shared work). The engine gives each layer of each decode
     * batch a fresh id; 0: nothing is kept. */
    unsigned long view_id;
} decode_seq;

/* The tail length the kernels use. */
static inline int decode_seq_tail(const decode_seq *s) { return s->n_tail_at ? *s->n_tail_at : s->n_tail; }

/* out, q: (B, H*hd). The best version for this CPU (qmm_isa_default). */
void decode_attention_cpu(float *out, const float *q, const decode_seq *seqs, int B, int H, int Hkv, int hd);
/* The version for isa (a qmm_isa this CPU runs): QMM_ISA_AVX512 and QMM_ISA_AVX2 put 16 or 8 keys in
 * the lanes of a vector (head dims a multiple of that) and read a KV head's rows once for the query
 * heads whose views coincide; QMM_ISA_C takes one query head at a time. All give the same bits. */
void decode_attention_cpu_isa(int isa, float *out, const float *q, const decode_seq *seqs, int B, int H, int Hkv,
                              int hd);
void decode_attention_cuda(float *out, const float *q, const decode_seq *seqs, int B, int H, int Hkv, int hd,
                           void *stream);

/* Store each sequence's new token: k_new/v_new row b (kv_dim floats) → tail slot n_tail - 1 of
 * seqs[b] (the current token is the last tail entry), the slot read from n_tail_at when set. One
 * launch for the whole batch on the GPU, where a per-sequence copy would bake the slot into a
 * captured graph. */
void decode_tail_store_cpu(const decode_seq *seqs, int B, const float *k_new, const float *v_new, int kv_dim);
void decode_tail_store_cuda(const decode_seq *seqs, int B, const float *k_new, const float *v_new, int kv_dim,
                            void *stream);

#endif
