/* rope (CPU): rotate-half RoPE as transformers' LlamaRotaryEmbedding computes it (fp32 angles). */
#include "kernels/rope.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

void rope_inv_freq(float *inv_freq, int head_dim, double theta, int llama3, double factor,
                   double low_freq_factor, double high_freq_factor, int original_max_pos)
{
    int half = head_dim / 2;
    for (int i = 0; i < half; i++) {
        float f = (float)(1.0 / pow(theta, (double)(2 * i) / head_dim));
        if (llama3) {
            /* Llama-3 scaling: long wavelengths divided by factor, short ones kept, the band
             * between interpolated smoothly (transformers _compute_llama3_parameters). */
            double low_wavelen = original_max_pos / low_freq_factor;
            double high_wavelen = original_max_pos / high_freq_factor;
            double wavelen = 2 * M_PI / f;
            double g = f;
            if (wavelen > low_wavelen) g = f / factor;
            if (!(wavelen < high_wavelen) && !(wavelen > low_wavelen)) {
                double smooth = (original_max_pos / wavelen - low_freq_factor) / (high_freq_factor - low_freq_factor);
                g = (1 - smooth) * f / factor + smooth * f;
            }
            f = (float)g;
        }
        inv_freq[i] = f;
    }
}

/* Rows below which one thread does them all: a decode step's few rows (~1 us of cos/sin each) cost
 * less than waking a sleeping thread (tens of microseconds on a VM; BENCHMARKS §5.7.3). */
#define ROPE_PAR_ROWS 64
#define ROPE_MEMO_HALF 128 /* head dims up to 256 keep their angles' cos/sin for the next call */

/* Row x rotated by the angles whose cos/sin are cs/sn. */
static void rotate_row(float *x, int n_heads, int head_dim, const float *cs, const float *sn)
{
    const int half = head_dim / 2;
    for (int h = 0; h < n_heads; h++) {
        float *v = x + (long)h * head_dim;
        for (int i = 0; i < half; i++) {
            float a = v[i], b = v[i + half];
            v[i] = a * cs[i] - b * sn[i];
            v[i + half] = b * cs[i] + a * sn[i];
        }
    }
}

static void angles(float *cs, float *sn, int position, const float *inv_freq, int half)
{
    for (int i = 0; i < half; i++) {
        float ang = (float)position * inv_freq[i];
        cs[i] = (float)cos((double)ang);
        sn[i] = (float)sin((double)ang);
    }
}

/* The cos/sin tables of the last few-row call on this thread, with the positions and frequencies they
 * came from: a decode step rotates q and k of every layer at the same positions (60 calls for a
 * 30-layer model, one table). Reused only when both are equal, value for value. */
typedef struct {
    int n_rows, half;
    int pos[ROPE_PAR_ROWS];
    float inv[ROPE_MEMO_HALF], cs[ROPE_PAR_ROWS * ROPE_MEMO_HALF], sn[ROPE_PAR_ROWS * ROPE_MEMO_HALF];
} rope_memo;

static const rope_memo *memo_for(int n_rows, int half, const int *positions, const float *inv_freq)
{
    static _Thread_local rope_memo *m;
    if (!m && !(m = calloc(1, sizeof *m))) return NULL;
    if (m->n_rows != n_rows || m->half != half || memcmp(m->pos, positions, sizeof(int) * n_rows) ||
        memcmp(m->inv, inv_freq, sizeof(float) * half)) {
        m->n_rows = n_rows, m->half = half;
        memcpy(m->pos, positions, sizeof(int) * n_rows);
        memcpy(m->inv, inv_freq, sizeof(float) * half);
        for (int r = 0; r < n_rows; r++) angles(m->cs + r * half, m->sn + r * half, positions[r], inv_freq, half);
    }
    return m;
}

void rope_cpu(float *x, int n_rows, int n_heads, int head_dim, const int *positions, const float *inv_freq)
{
    const int half = head_dim / 2;
    const long stride = (long)n_heads * head_dim;
    const rope_memo *m = n_rows <= ROPE_PAR_ROWS && half <= ROPE_MEMO_HALF ? memo_for(n_rows, half, positions, inv_freq)
                                                                          : NULL;
    if (m) {
        for (int r = 0; r < n_rows; r++) rotate_row(x + r * stride, n_heads, head_dim, m->cs + r * half, m->sn + r * half);
        return;
    }
#pragma omp parallel for schedule(static) if (n_rows > ROPE_PAR_ROWS)
    for (int r = 0; r < n_rows; r++) {
        float cs[512], sn[512];
        angles(cs, sn, positions[r], inv_freq, half);
        rotate_row(x + r * stride, n_heads, head_dim, cs, sn);
    }
}
