/* press_scoring (CPU): the kvpress-style statistics (kernels/press_scoring.h) in double
 * accumulation, threads over heads. */
#include "kernels/press_scoring.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>


void press_norm_cpu(float *out, const float *x, int L, int Hkv, int hd)
{
#pragma omp parallel for schedule(static) if (L > 256)
    for (int j = 0; j < L; j++)
        for (int g = 0; g < Hkv; g++) {
            const float *r = x + ((long)j * Hkv + g) * hd;
            double s = 0;
            for (int t = 0; t < hd; t++) s += (double)r[t] * r[t];
            out[(long)g * L + j] = (float)sqrt(s);
        }
}

void press_keycos_cpu(float *out, const float *k, int L, int Hkv, int hd)
{
#pragma omp parallel for schedule(dynamic, 1)
    for (int g = 0; g < Hkv; g++) {
        double *a = calloc((size_t)hd, sizeof(double));
        /* anchor: mean of the normalised keys (F.normalize: x / max(||x||, 1e-12)) */
        for (int j = 0; j < L; j++) {
            const float *r = k + ((long)j * Hkv + g) * hd;
            double n = 0;
            for (int t = 0; t < hd; t++) n += (double)r[t] * r[t];
            n = fmax(sqrt(n), 1e-12);
            for (int t = 0; t < hd; t++) a[t] += r[t] / n;
        }
        double na = 0;
        for (int t = 0; t < hd; t++) {
            a[t] /= L;
            na += a[t] * a[t];
        }
        na = fmax(sqrt(na), 1e-8);
        for (int j = 0; j < L; j++) {
            const float *r = k + ((long)j * Hkv + g) * hd;
            double d = 0, n = 0;
            for (int t = 0; t < hd; t++) d += r[t] * a[t], n += (double)r[t] * r[t];
            out[(long)g * L + j] = (float)(d / (fmax(sqrt(n), 1e-8) * na));
        }
        free(a);
    }
}

void press_query_stats_cpu(double *mean, double *cov, const float *q, int L, int H, int hd, int skip,
                           const float *inv_freq)
{
    const int half = hd / 2, n = L - skip;
#pragma omp parallel for schedule(dynamic, 1)
    for (int h = 0; h < H; h++) {
        double *mu = mean + (long)h * hd, *cv = cov ? cov + (long)h * hd * hd : NULL;
        double *x = malloc(sizeof(double) * (size_t)n * hd);
        for (int i = 0; i < n; i++) {
            /* undo rope_cpu at position p: rotate by -p with the same fp32 angles */
            const int p = skip + i;
            const float *r = q + ((long)p * H + h) * hd;
            double *y = x + (long)i * hd;
            for (int t = 0; t < half; t++) {
                float ang = (float)p * inv_freq[t];
                double c = (float)cos((double)ang), s = (float)sin((double)ang);
                y[t] = r[t] * c + r[t + half] * s;
                y[t + half] = r[t + half] * c - r[t] * s;
            }
        }
        for (int t = 0; t < hd; t++) mu[t] = 0;
        for (int i = 0; i < n; i++)
            for (int t = 0; t < hd; t++) mu[t] += x[(long)i * hd + t];
        for (int t = 0; t < hd; t++) mu[t] /= n;
        if (cv) {
            memset(cv, 0, sizeof(double) * (size_t)hd * hd);
            for (int i = 0; i < n; i++) {
                double *y = x + (long)i * hd;
                for (int t = 0; t < hd; t++) y[t] -= mu[t];
                for (int a = 0; a < hd; a++)
                    for (int b = 0; b <= a; b++) cv[a * hd + b] += y[a] * y[b];
            }
            for (int a = 0; a < hd; a++)
                for (int b = 0; b <= a; b++) cv[b * hd + a] = cv[a * hd + b] /= n;
        }
        free(x);
    }
}

void press_expected_attention_cpu(float *out, const double *mean, const double *cov, const float *k,
                                  const float *vnorm, int L, int H, int Hkv, int hd, int g,
                                  const float *inv_freq, int n_future, int sinks, int use_cov, double eps)
{
    const int half = hd / 2, n_rep = H / Hkv, n = L - sinks;
    /* averaged rotation R = diag(cb) + P diag-blocks(sb): (R x)_i = cb_i x_i - sb_i x_{i+d/2} for
     * i < d/2 and cb_i x_i + sb_i x_{i-d/2} above, cb/sb the mean cos/sin over future positions */
    double *cb = calloc((size_t)hd, sizeof(double)), *sb = calloc((size_t)hd, sizeof(double));
    for (int t = 0; t < n_future; t++)
        for (int i = 0; i < half; i++) {
            float ang = (float)(L + t) * inv_freq[i];
            double c = (float)cos((double)ang), s = (float)sin((double)ang);
            cb[i] += c, sb[i] += s;
        }
    for (int i = 0; i < half; i++) {
        cb[i] /= n_future, sb[i] /= n_future;
        cb[i + half] = cb[i], sb[i + half] = sb[i];
    }
    double *acc = calloc((size_t)(n > 0 ? n : 1), sizeof(double)), *z = malloc(sizeof(double) * (size_t)(n > 0 ? n : 1));
    double *mu = malloc(sizeof(double) * (size_t)hd), *S = malloc(sizeof(double) * (size_t)hd * hd);
    double *T = malloc(sizeof(double) * (size_t)hd * hd), *kj = malloc(sizeof(double) * (size_t)hd);
    const double inv_sqrt = 1.0 / sqrt((double)hd);
    for (int hh = 0; hh < n_rep; hh++) {
        const int h = g * n_rep + hh;
        const double *m0 = mean + (long)h * hd, *c0 = cov ? cov + (long)h * hd * hd : NULL;
        /* mu = R m0 */
        for (int i = 0; i < hd; i++) mu[i] = cb[i] * m0[i] + (i < half ? -sb[i] * m0[i + half] : sb[i] * m0[i - half]);
        if (use_cov) {
            /* T = R C, then S = T R^T: S[a][b] = Σ_c T[a][c] R[b][c] */
            for (int a = 0; a < hd; a++)
                for (int c = 0; c < hd; c++)
                    T[a * hd + c] = cb[a] * c0[a * hd + c] +
                                    (a < half ? -sb[a] * c0[(a + half) * hd + c] : sb[a] * c0[(a - half) * hd + c]);
            for (int a = 0; a < hd; a++)
                for (int b = 0; b < hd; b++)
                    S[a * hd + b] = cb[b] * T[a * hd + b] +
                                    (b < half ? -sb[b] * T[a * hd + b + half] : sb[b] * T[a * hd + b - half]);
        }
        double mx = -INFINITY, sum = 0;
        for (int j = 0; j < n; j++) {
            const float *r = k + ((long)(sinks + j) * Hkv + g) * hd;
            double d = 0;
            for (int t = 0; t < hd; t++) kj[t] = r[t], d += mu[t] * kj[t];
            d *= inv_sqrt;
            if (use_cov) {
                double qf = 0;
                for (int a = 0; a < hd; a++) {
                    double ra = 0;
                    for (int b = 0; b < hd; b++) ra += S[a * hd + b] * kj[b];
                    qf += kj[a] * ra;
                }
                d += qf / hd / 2;
            }
            z[j] = d;
            mx = fmax(mx, d);
        }
        for (int j = 0; j < n; j++) sum += (z[j] = exp(z[j] - mx));
        for (int j = 0; j < n; j++) acc[j] += z[j] / sum;
    }
    for (int j = 0; j < sinks && j < L; j++) out[j] = INFINITY;
    for (int j = 0; j < n; j++) {
        double s = acc[j] / n_rep;
        if (vnorm) s = (s + eps) * vnorm[sinks + j];
        out[sinks + j] = (float)s;
    }
    free(cb), free(sb), free(acc), free(z), free(mu), free(S), free(T), free(kj);
}
