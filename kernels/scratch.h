/* scratch: what tests may ask of the CUDA kernels' per-stream scratch buffers
 * (kernels/cuda/common.cuh: cuda_scratch). */
#ifndef KV_SCRATCH_H
#define KV_SCRATCH_H

/* Scratch buffers of `stream` (a cudaStream_t, backend.stream) replaced but kept alive because a
 * graph captured on that stream may still use them. */
int cuda_scratch_waiting(void *stream);

#endif
