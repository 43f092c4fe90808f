/* circuit_rank_score: CircuitKV's score before smoothing — sink positions get sink_weight × the
 * visits of the rest, the others their visits, all divided by the maximum — in one fixed order
 * of operations shared by the CPU ranking (kernels/cpu/scoring.c) and its CUDA twin
 * (kernels/cuda/select.cu, one thread), so that both give the same bits. */
#ifndef KV_CIRCUIT_RANK_SCORE_H
#define KV_CIRCUIT_RANK_SCORE_H

#ifdef __CUDACC__
#define KV_HOST_DEVICE __host__ __device__
#else
#define KV_HOST_DEVICE
#endif

static inline KV_HOST_DEVICE void circuit_rank_score(double *score, const double *visits, int N, int s,
                                                     double sink_weight)
{
    double total = 0, mx = 0;
    for (int j = s; j < N; j++) total += visits[j];
    for (int j = 0; j < N; j++) {
        score[j] = j < s ? sink_weight * total : visits[j];
        mx = score[j] > mx ? score[j] : mx;
    }
    if (mx > 0)
        for (int j = 0; j < N; j++) score[j] /= mx;
}

#endif
