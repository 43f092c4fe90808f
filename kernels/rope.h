/* rope: rotary position embedding in the rotate-half form of Hugging Face transformers, with the
 * inverse frequencies precomputed (Llama-3 scaling applied) by rope_inv_freq. */
#ifndef KV_ROPE_H
#define KV_ROPE_H

/* inv_freq (head_dim/2): base^(-2i/d), then the "llama3" rope_scaling rule when llama3 != 0. */
void rope_inv_freq(float *inv_freq, int head_dim, double theta, int llama3, double factor,
                   double low_freq_factor, double high_freq_factor, int original_max_pos);

/* x: (n_rows, n_heads*head_dim), row r rotated by angle positions[r] * inv_freq. In place. */
void rope_cpu(float *x, int n_rows, int n_heads, int head_dim, const int *positions, const float *inv_freq);
void rope_cuda(float *x, int n_rows, int n_heads, int head_dim, const int *positions, const float *inv_freq,
               void *stream);

#endif
