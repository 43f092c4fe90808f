/* scoring_tolerances: how far the CUDA scoring kernels (window softmax rows, H2O column sums) may
 * sit from their CPU references: |got - ref| <= atol + rtol·|ref|. Shared by test_cuda_kernels
 * (the kernels alone) and test_cuda_stats (the same kernels through the engine's backend path). */
#ifndef KV_TESTS_CUDA_SCORING_TOLERANCES_H
#define KV_TESTS_CUDA_SCORING_TOLERANCES_H

#define WIN_ATOL 1e-6
#define WIN_RTOL 1e-4
#define WIN16_ATOL 1e-3         /* a logit whose half rounding flips moves p by up to ~1% */
#define WIN16_RTOL 1e-2
#define H2O_ATOL 1e-5
#define H2O_RTOL 1e-4
#define H2O16_ATOL 2e-3
#define H2O16_RTOL 1e-2

#endif
