/* press_scoring: the per-layer statistics of the kvpress-style methods (issue 17) that rank prompt
 * positions from the keys, values and queries themselves rather than from attention rows: key and
 * value L2 norms (KnormPress, ExpectedAttentionPress's value rescaling), each key's cosine with
 * the mean normalised key (KeyDiffPress), the mean and covariance of the pre-RoPE queries and the
 * expected attention of future queries (ExpectedAttentionPress). CPU references only: the engine
 * computes them on the host from the layer's q, k, v (engine/compress.c). Layouts: q (L, H*hd),
 * k and v (L, Hkv*hd), post-RoPE as the prefill leaves them; outputs per KV head (Hkv, L). */
#ifndef KV_PRESS_SCORING_H
#define KV_PRESS_SCORING_H

/* out (Hkv, L): ||x_j|| of each position's head vector (fp32 accumulate in double). */
void press_norm_cpu(float *out, const float *x, int L, int Hkv, int hd);

/* out (Hkv, L): cos(k_j, a) with a = mean over all L positions of k_j / max(||k_j||, 1e-12)
 * (torch F.normalize), the cosine as torch F.cosine_similarity: k·a / (max(||k||,1e-8) max(||a||,1e-8)). */
void press_keycos_cpu(float *out, const float *k, int L, int Hkv, int hd);

/* mean (H, hd), cov (H, hd, hd): the mean and covariance (divided by the count, as kvpress) of the
 * pre-RoPE queries of positions skip..L-1. The pre-RoPE queries are recovered by rotating the
 * post-RoPE q back by -position with inv_freq (hd/2), the inverse of rope_cpu. Requires skip < L. */
void press_query_stats_cpu(double *mean, double *cov, const float *q, int L, int H, int hd, int skip,
                           const float *inv_freq);

/* ExpectedAttentionPress for one KV head: out (L) for positions 0..L-1 of KV head g.
 * R = mean over t = L..L+n_future-1 of the RoPE rotation at t (cos_t I + sin_t P, rotate-half
 * form); per query head h of the group: mu = R mean_h, S = R cov_h R^T,
 * z[j] = mu·k_j/sqrt(hd) + use_cov · k_j^T S k_j / (2 hd) for j >= sinks, softmax over j;
 * the group mean of those, then (· + eps)·vnorm[j] when vnorm is non-NULL. The sink positions
 * j < sinks get +inf (always kept). mean/cov as press_query_stats_cpu (cov unused if !use_cov). */
void press_expected_attention_cpu(float *out, const double *mean, const double *cov, const float *k,
                                  const float *vnorm, int L, int H, int Hkv, int hd, int g,
                                  const float *inv_freq, int n_future, int sinks, int use_cov, double eps);

#endif
