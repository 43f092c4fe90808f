/* common (CUDA): per-stream scratch buffers and the fp32 → weight-type conversion shared by the
 * kernels (see common.cuh). */
#include "kernels/cuda/common.cuh"

#include <string.h>

extern "C" {
#include "kernels/scratch.h"
}

#define SCRATCH_MAX_STREAMS 16
#define SCRATCH_MAX_DEFERRED 64

/* A buffer replaced while the stream's live graph may still point at it (replaced during a capture,
 * or after one) waits in `cur`. At the next capture's begin (the stream synchronized, the live
 * graph being the one captured last) the buffers of `prev` — waiting since before that graph was
 * captured, so no live graph of this stream can use them — are freed and `cur` becomes `prev`.
 * Per stream: another stream's captures and growth never free this stream's buffers. */
typedef struct {
    void *p[SCRATCH_MAX_DEFERRED];
    int n;
} scratch_list;

typedef struct {
    cudaStream_t stream;
    int used;
    int captured; /* a graph was captured on this stream: replaced buffers wait (see above) */
    void *p[SCRATCH_N_SLOTS];
    size_t n[SCRATCH_N_SLOTS];
    scratch_list prev, cur;
} scratch_set;

static scratch_set scratch_sets[SCRATCH_MAX_STREAMS];

int cuda_stream_capturing(cudaStream_t stream)
{
    cudaStreamCaptureStatus st = cudaStreamCaptureStatusNone;
    CUDA_CHECK(cudaStreamIsCapturing(stream, &st));
    return st == cudaStreamCaptureStatusActive;
}

static void scratch_list_free(scratch_list *l)
{
    for (int i = 0; i < l->n; i++) CUDA_CHECK(cudaFree(l->p[i]));
    l->n = 0;
}

static scratch_set *scratch_find(cudaStream_t stream, int create)
{
    scratch_set *free_set = NULL;
    for (int i = 0; i < SCRATCH_MAX_STREAMS; i++) {
        if (scratch_sets[i].used && scratch_sets[i].stream == stream) return &scratch_sets[i];
        if (!scratch_sets[i].used && !free_set) free_set = &scratch_sets[i];
    }
    if (!create) return NULL;
    if (!free_set) kv_die("CUDA scratch: more than %d streams in use", SCRATCH_MAX_STREAMS);
    memset(free_set, 0, sizeof *free_set);
    free_set->used = 1;
    free_set->stream = stream;
    return free_set;
}

void *cuda_scratch(cudaStream_t stream, int slot, size_t bytes)
{
    scratch_set *s = scratch_find(stream, 1);
    if (bytes <= s->n[slot] && s->p[slot]) return s->p[slot];
    size_t want = bytes < 256 ? 256 : bytes;
    want += want / 4; /* grow geometrically so slowly growing sizes do not reallocate every call */
    if (s->p[slot]) {
        if (s->captured || cuda_stream_capturing(stream)) {
            if (s->cur.n == SCRATCH_MAX_DEFERRED)
                kv_die("CUDA scratch: more than %d buffers replaced between two graph captures", SCRATCH_MAX_DEFERRED);
            s->cur.p[s->cur.n++] = s->p[slot];
        } else {
            CUDA_CHECK(cudaStreamSynchronize(stream)); /* earlier kernels may still read it */
            CUDA_CHECK(cudaFree(s->p[slot]));
        }
        s->p[slot] = NULL;
        s->n[slot] = 0;
    }
    CUDA_CHECK(cudaMalloc(&s->p[slot], want));
    s->n[slot] = want;
    return s->p[slot];
}

void cuda_scratch_capture_begin(cudaStream_t stream)
{
    scratch_set *s = scratch_find(stream, 1);
    CUDA_CHECK(cudaStreamSynchronize(stream));
    scratch_list_free(&s->prev);
    s->prev = s->cur;
    s->cur.n = 0;
    s->captured = 1;
}

int cuda_scratch_waiting(void *stream)
{
    scratch_set *s = scratch_find((cudaStream_t)stream, 0);
    return s ? s->prev.n + s->cur.n : 0;
}

void cuda_scratch_release(cudaStream_t stream)
{
    scratch_set *s = scratch_find(stream, 0);
    CUDA_CHECK(cudaStreamSynchronize(stream));
    if (!s) return;
    scratch_list_free(&s->prev);
    scratch_list_free(&s->cur);
    for (int i = 0; i < SCRATCH_N_SLOTS; i++)
        if (s->p[i]) CUDA_CHECK(cudaFree(s->p[i]));
    memset(s, 0, sizeof *s);
}

__global__ void convert_f32_bf16_kernel(__nv_bfloat16 *dst, const float *src, long n)
{
    for (long i = blockIdx.x * (long)blockDim.x + threadIdx.x; i < n; i += (long)gridDim.x * blockDim.x)
        dst[i] = __float2bfloat16_rn(src[i]);
}

__global__ void convert_f32_f16_kernel(__half *dst, const float *src, long n)
{
    for (long i = blockIdx.x * (long)blockDim.x + threadIdx.x; i < n; i += (long)gridDim.x * blockDim.x)
        dst[i] = __float2half_rn(src[i]);
}

void cuda_convert_f32(void *dst, const float *src, long n, kv_wtype t, cudaStream_t stream)
{
    if (n <= 0) return;
    if (t == KV_WTYPE_F32) {
        CUDA_CHECK(cudaMemcpyAsync(dst, src, sizeof(float) * (size_t)n, cudaMemcpyDeviceToDevice, stream));
        return;
    }
    unsigned blocks = cuda_blocks(n, 256, 8192);
    if (t == KV_WTYPE_BF16) convert_f32_bf16_kernel<<<blocks, 256, 0, stream>>>((__nv_bfloat16 *)dst, src, n);
    else convert_f32_f16_kernel<<<blocks, 256, 0, stream>>>((__half *)dst, src, n);
    CUDA_LAUNCH_CHECK();
}
