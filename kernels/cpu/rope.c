/* rope (CPU): rotate-half RoPE as transformers' LlamaRotaryEmbedding computes it (fp32 angles). */
#include "kernels/rope.h"

#include <math.h>

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

void rope_cpu(float *x, int n_rows, int n_heads, int head_dim, const int *positions, const float *inv_freq)
{
    int half = head_dim / 2;
#pragma omp parallel for schedule(static) if (n_rows > ROPE_PAR_ROWS)
    for (int r = 0; r < n_rows; r++) {
        float cs[512], sn[512];
        for (int i = 0; i < half; i++) {
            float ang = (float)positions[r] * inv_freq[i];
            cs[i] = (float)cos((double)ang);
            sn[i] = (float)sin((double)ang);
        }
        for (int h = 0; h < n_heads; h++) {
            float *v = x + ((long)r * n_heads + h) * head_dim;
            for (int i = 0; i < half; i++) {
                float a = v[i], b = v[i + half];
                v[i] = a * cs[i] - b * sn[i];
                v[i + half] = b * cs[i] + a * sn[i];
            }
        }
    }
}
