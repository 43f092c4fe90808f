/* swiglu: the gated MLP activation, out = silu(gate) * up, elementwise. */
#ifndef KV_SWIGLU_H
#define KV_SWIGLU_H

void swiglu_cpu(float *out, const float *gate, const float *up, long n);
/* The same with the kernel of one instruction set (qmm_isa; the tests run each). */
void swiglu_cpu_isa(int isa, float *out, const float *gate, const float *up, long n);
void swiglu_cuda(float *out, const float *gate, const float *up, long n, void *stream);

#endif
