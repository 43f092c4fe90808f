/* test_kernels: every CPU reference op against a direct (naive, double precision) computation,
 * and the Llama-3 RoPE frequencies against transformers' _compute_llama3_parameters. */
#include <float.h>
#include <math.h>
#include <stdlib.h>

#include "kernels/argmax.h"
#include "kernels/attention.h"
#include "kernels/decode_attention.h"
#include "kernels/cpu/expf_simd.h"
#include "kernels/qmatmul.h"
#include "kernels/rmsnorm.h"
#include "kernels/rope.h"
#include "kernels/swiglu.h"
#include "tests/check.h"

#define TOL_F32_ATOL 1e-5 /* fp32 ops vs double references on O(1) values */
#define TOL_F32_RTOL 1e-4

static unsigned rng = 42;
static float frand(void)
{
    rng = rng * 1664525u + 1013904223u;
    return ((rng >> 8) / 16777216.0f) * 2.0f - 1.0f;
}

static void test_rope_freq(void)
{
    /* transformers 5.x ROPE_INIT_FUNCTIONS["llama3"] for Llama-3.1-8B (theta 5e5, factor 8, low 1,
     * high 4, original 8192, head_dim 128) */
    static const struct { int i; double v; } ref[] = {
        {0, 1.0}, {10, 0.12868738174438477}, {20, 0.016560440883040428}, {30, 0.0013718936825171113},
        {40, 3.428102354519069e-05}, {45, 1.2297638932068367e-05}, {50, 4.411534519022098e-06},
        {63, 3.068925877869333e-07}};
    float inv[64];
    rope_inv_freq(inv, 128, 500000.0, 1, 8.0, 1.0, 4.0, 8192);
    for (size_t k = 0; k < sizeof ref / sizeof *ref; k++)
        CHECK(check_close(inv[ref[k].i], ref[k].v, 0, 1e-6), "inv_freq[%d] = %.9g, transformers %.9g", ref[k].i,
              inv[ref[k].i], ref[k].v);
}

static void test_rope_rotation(void)
{
    const int hd = 8, H = 2;
    float inv[4], x[2 * H * hd], x0[2 * H * hd];
    rope_inv_freq(inv, hd, 10000.0, 0, 0, 0, 0, 0);
    for (int i = 0; i < 2 * H * hd; i++) x0[i] = x[i] = frand();
    int pos[2] = {0, 7};
    rope_cpu(x, 2, H, hd, pos, inv);
    int ok0 = 1, ok1 = 1;
    for (int i = 0; i < H * hd; i++) ok0 &= x[i] == x0[i]; /* position 0 is the identity */
    for (int h = 0; h < H; h++) {
        for (int i = 0; i < hd / 2; i++) {
            double a = x0[H * hd + h * hd + i], b = x0[H * hd + h * hd + i + hd / 2], t = 7.0 * inv[i];
            ok1 &= check_close(x[H * hd + h * hd + i], a * cos(t) - b * sin(t), TOL_F32_ATOL, TOL_F32_RTOL);
            ok1 &= check_close(x[H * hd + h * hd + i + hd / 2], b * cos(t) + a * sin(t), TOL_F32_ATOL, TOL_F32_RTOL);
        }
    }
    CHECK(ok0, "rope at position 0 must not change x");
    CHECK(ok1, "rope rotate-half pairs (i, i+d/2) by pos*inv_freq[i]");
    /* Few rows keep their cos/sin for the next call; many rows (the prefill) compute their own. The
     * same rows must get the same bits either way, also after the positions or frequencies change. */
    enum { R = 65, HD = 64 };
    static float big[R * HD], small[R * HD], again[R * HD], inv2[HD / 2];
    int ps[R];
    rope_inv_freq(inv2, HD, 10000.0, 0, 0, 0, 0, 0);
    int same = 1;
    for (int round = 0; round < 3; round++) {
        for (int r = 0; r < R; r++) ps[r] = r * 31 + (round == 1 ? 5 : 0);
        if (round == 2) inv2[3] *= 1.5f;
        for (int i = 0; i < R * HD; i++) big[i] = small[i] = again[i] = frand();
        rope_cpu(big, R, 1, HD, ps, inv2); /* 65 rows: the parallel path */
        for (int r = 0; r < R; r += 16) {  /* each chunk twice: computed, then taken from the memo */
            rope_cpu(small + r * HD, R - r < 16 ? R - r : 16, 1, HD, ps + r, inv2);
            rope_cpu(again + r * HD, R - r < 16 ? R - r : 16, 1, HD, ps + r, inv2);
        }
        same &= !memcmp(big, small, sizeof big) && !memcmp(big, again, sizeof big);
    }
    CHECK(same, "rope: few-row calls (cos/sin kept between calls) equal the many-row path bit for bit");
}

static void test_rmsnorm_swiglu(void)
{
    const int rows = 3, dim = 37;
    float x[rows * dim], w[dim], y[rows * dim];
    for (int i = 0; i < rows * dim; i++) x[i] = frand() * 3;
    for (int i = 0; i < dim; i++) w[i] = frand();
    rmsnorm_cpu(y, x, w, rows, dim, 1e-5f);
    int ok = 1;
    for (int r = 0; r < rows; r++) {
        double ss = 0;
        for (int i = 0; i < dim; i++) ss += (double)x[r * dim + i] * x[r * dim + i];
        for (int i = 0; i < dim; i++)
            ok &= check_close(y[r * dim + i], w[i] * x[r * dim + i] / sqrt(ss / dim + 1e-5), TOL_F32_ATOL, TOL_F32_RTOL);
    }
    CHECK(ok, "rmsnorm");
    /* bit for bit one row at a time (each row's double sum in element order), for any row count */
    enum { MR = 21, MD = 576 };
    static float X[MR * MD], Y[MR * MD], W[MD];
    for (int i = 0; i < MR * MD; i++) X[i] = frand() * (i % 13 == 0 ? 40.0f : 2.0f);
    for (int i = 0; i < MD; i++) W[i] = frand();
    int same_rows = 1;
    for (int n = 1; n <= MR; n++) {
        rmsnorm_cpu(Y, X, W, n, MD, 1e-5f);
        for (int r = 0; r < n; r++) {
            double ss = 0;
            for (int i = 0; i < MD; i++) ss += (double)X[r * MD + i] * X[r * MD + i];
            const float scale = (float)(1.0 / sqrt(ss / MD + 1e-5f));
            for (int i = 0; i < MD; i++) {
                const float want = W[i] * (X[r * MD + i] * scale);
                same_rows &= !memcmp(&want, &Y[r * MD + i], sizeof want);
            }
        }
    }
    CHECK(same_rows, "rmsnorm of 1..%d rows equals the one-row loop bit for bit", MR);
    float g[5] = {-3, -0.5f, 0, 0.5f, 4}, u[5] = {1, 2, 3, -1, 0.25f}, o[5];
    swiglu_cpu(o, g, u, 5);
    ok = 1;
    for (int i = 0; i < 5; i++) ok &= check_close(o[i], g[i] / (1 + exp(-g[i])) * u[i], TOL_F32_ATOL, TOL_F32_RTOL);
    CHECK(ok, "swiglu = silu(gate)*up");
    /* every instruction set, serial (few values) and split over threads (many), bit for bit the scalar
     * expression, with values past exp8's range (|g| >= 88: expf lane by lane), +-0 and tails */
    enum { N = 40007 };
    static float G[N], U[N], want[N], got[N];
    static const float special[] = {0.0f, -0.0f, 88.0f, -88.0f, 87.99f, -87.99f, 100.0f, -100.0f, 1e-30f, -1e-30f};
    for (int i = 0; i < N; i++) {
        G[i] = i % 97 == 0 ? special[(i / 97) % 10] : frand() * (i % 5 == 0 ? 60.0f : 6.0f);
        U[i] = frand();
    }
    for (int i = 0; i < N; i++) want[i] = G[i] / (1.0f + expf(-G[i])) * U[i];
    for (int isa = 0; isa < QMM_ISA_COUNT; isa++) {
        if (!qmm_isa_available(isa)) continue;
        int same = 1;
        for (long n = 1; n <= N; n = n < 64 ? n + 1 : n * 3) {
            swiglu_cpu_isa(isa, got, G, U, n);
            same &= !memcmp(got, want, sizeof(float) * n);
        }
        /* thread splits that end on 8-value boundaries short of n (8192 a thread for 2 or 3 threads) */
        static const long odd[] = {16385, 24577, 32769, N};
        for (int k = 0; k < 4; k++) {
            swiglu_cpu_isa(isa, got, G, U, odd[k]);
            same &= !memcmp(got, want, sizeof(float) * odd[k]);
        }
        CHECK(same, "swiglu %s: bit for bit g / (1 + expf(-g)) * u on 1..%d values", qmm_isa_name(isa), N);
    }
}

/* Naive causal attention in double, GQA by h / n_rep. */
static void attention_naive(double *out, double *lse, const float *q, const float *k, const float *v, int L, int H,
                            int Hkv, int hd)
{
    int n_rep = H / Hkv;
    double *s = malloc(sizeof(double) * L);
    for (int h = 0; h < H; h++) {
        int g = h / n_rep;
        for (int i = 0; i < L; i++) {
            double m = -DBL_MAX, sum = 0;
            for (int j = 0; j <= i; j++) {
                double d = 0;
                for (int t = 0; t < hd; t++) d += (double)q[(i * H + h) * hd + t] * k[(j * Hkv + g) * hd + t];
                s[j] = d / sqrt(hd);
                m = fmax(m, s[j]);
            }
            for (int j = 0; j <= i; j++) sum += exp(s[j] - m);
            lse[h * L + i] = m + log(sum);
            for (int t = 0; t < hd; t++) {
                double acc = 0;
                for (int j = 0; j <= i; j++) acc += exp(s[j] - m) / sum * v[(j * Hkv + g) * hd + t];
                out[(i * H + h) * hd + t] = acc;
            }
        }
    }
    free(s);
}

static void test_attention_prefill(int L, int H, int Hkv, int hd)
{
    float *q = malloc(sizeof(float) * L * H * hd), *k = malloc(sizeof(float) * L * Hkv * hd);
    float *v = malloc(sizeof(float) * L * Hkv * hd), *out = malloc(sizeof(float) * L * H * hd);
    float *lse = malloc(sizeof(float) * H * L);
    double *ro = malloc(sizeof(double) * L * H * hd), *rl = malloc(sizeof(double) * H * L);
    for (long i = 0; i < (long)L * H * hd; i++) q[i] = frand() * 2;
    for (long i = 0; i < (long)L * Hkv * hd; i++) k[i] = frand() * 2, v[i] = frand();
    attention_prefill_cpu(out, lse, q, k, v, L, H, Hkv, hd);
    attention_naive(ro, rl, q, k, v, L, H, Hkv, hd);
    double mo = 0, ml = 0;
    int ok = 1;
    for (long i = 0; i < (long)L * H * hd; i++) {
        ok &= check_close(out[i], ro[i], TOL_F32_ATOL, TOL_F32_RTOL);
        mo = fmax(mo, fabs(out[i] - ro[i]));
    }
    for (long i = 0; i < (long)H * L; i++) {
        ok &= check_close(lse[i], rl[i], TOL_F32_ATOL, TOL_F32_RTOL);
        ml = fmax(ml, fabs(lse[i] - rl[i]));
    }
    CHECK(ok, "prefill attention L=%d H=%d Hkv=%d hd=%d: max err out %.3g lse %.3g", L, H, Hkv, hd, mo, ml);
    free(q), free(k), free(v), free(out), free(lse), free(ro), free(rl);
}

/* Decode attention through a view + tail equals attention over the physically gathered keys. */
static void test_decode_attention(void)
{
    enum { L = 50, H = 4, Hkv = 2, hd = 16, T = 3, B = 2 };
    static float kp[L * Hkv * hd], vp[L * Hkv * hd], kt[B][T * Hkv * hd], vt[B][T * Hkv * hd], q[B * H * hd], out[B * H * hd];
    static int pos[B][H * L], len[B][H];
    for (int i = 0; i < L * Hkv * hd; i++) kp[i] = frand(), vp[i] = frand();
    for (int b = 0; b < B; b++)
        for (int i = 0; i < T * Hkv * hd; i++) kt[b][i] = frand(), vt[b][i] = frand();
    for (int i = 0; i < B * H * hd; i++) q[i] = frand() * 2;
    decode_seq seqs[B];
    for (int b = 0; b < B; b++) {
        for (int h = 0; h < H; h++) {
            int n = 0;
            for (int j = 0; j < L; j++)
                if ((j * (h + 2) + b) % 3 == 0 || j < 2) pos[b][h * L + n++] = j; /* each head its own set */
            len[b][h] = n;
        }
        seqs[b] = (decode_seq){kp, vp, pos[b], len[b], L, kt[b], vt[b], T - b, NULL, 0};
    }
    decode_attention_cpu(out, q, seqs, B, H, Hkv, hd);
    int ok = 1;
    double me = 0;
    for (int b = 0; b < B; b++) {
        for (int h = 0; h < H; h++) {
            int g = h / (H / Hkv), n = len[b][h] + seqs[b].n_tail;
            double s[L + T], m = -DBL_MAX, sum = 0;
            const float *keys[L + T], *vals[L + T];
            for (int j = 0; j < len[b][h]; j++) keys[j] = kp + (pos[b][h * L + j] * Hkv + g) * hd, vals[j] = vp + (pos[b][h * L + j] * Hkv + g) * hd;
            for (int j = 0; j < seqs[b].n_tail; j++) keys[len[b][h] + j] = kt[b] + (j * Hkv + g) * hd, vals[len[b][h] + j] = vt[b] + (j * Hkv + g) * hd;
            for (int j = 0; j < n; j++) {
                double d = 0;
                for (int t = 0; t < hd; t++) d += (double)q[(b * H + h) * hd + t] * keys[j][t];
                s[j] = d / sqrt(hd);
                m = fmax(m, s[j]);
            }
            for (int j = 0; j < n; j++) sum += exp(s[j] - m);
            for (int t = 0; t < hd; t++) {
                double acc = 0;
                for (int j = 0; j < n; j++) acc += exp(s[j] - m) / sum * vals[j][t];
                ok &= check_close(out[(b * H + h) * hd + t], acc, TOL_F32_ATOL, TOL_F32_RTOL);
                me = fmax(me, fabs(out[(b * H + h) * hd + t] - acc));
            }
        }
    }
    CHECK(ok, "decode attention over view + tail: max err %.3g", me);

    /* The tail length read through n_tail_at (a captured decode step's form, n_tail a bound)
     * gives exactly the same output. */
    decode_seq at[B];
    int counts[B];
    static float out2[B * H * hd];
    for (int b = 0; b < B; b++) {
        counts[b] = seqs[b].n_tail;
        at[b] = seqs[b];
        at[b].n_tail = T + 5;
        at[b].n_tail_at = &counts[b];
    }
    decode_attention_cpu(out2, q, at, B, H, Hkv, hd);
    CHECK(!memcmp(out, out2, sizeof out), "decode attention with the tail length read through n_tail_at");

    /* The tail store writes row b into slot count-1 of sequence b and nothing else. */
    static float kn[B * Hkv * hd], vn[B * Hkv * hd], k_before[B][T * Hkv * hd];
    for (int i = 0; i < B * Hkv * hd; i++) kn[i] = frand(), vn[i] = frand();
    memcpy(k_before, kt, sizeof kt);
    decode_tail_store_cpu(at, B, kn, vn, Hkv * hd);
    int stored = 1;
    for (int b = 0; b < B; b++)
        for (int j = 0; j < T; j++)
            for (int i = 0; i < Hkv * hd; i++) {
                float want = j == counts[b] - 1 ? kn[b * Hkv * hd + i] : k_before[b][j * Hkv * hd + i];
                stored &= kt[b][j * Hkv * hd + i] == want;
                if (j == counts[b] - 1) stored &= vt[b][j * Hkv * hd + i] == vn[b * Hkv * hd + i];
            }
    CHECK(stored, "decode tail store: row b in slot n_tail-1 of sequence b, other slots untouched");
}

static void test_argmax(void)
{
    float x[2][6] = {{1, 5, 3, 5, -1, 0}, {-INFINITY, -2, -2, -3, -INFINITY, -2}};
    int out[2];
    argmax_cpu(out, &x[0][0], 2, 6);
    CHECK(out[0] == 1, "argmax tie -> lowest index, got %d", out[0]);
    CHECK(out[1] == 1, "argmax tie with -inf -> lowest index, got %d", out[1]);
    /* every instruction set against the scalar loop: rows of 1..67 values (tails past the vectors),
     * drawn from a few values so that ties are common, with NaNs, -0/+0 and -inf mixed in */
    enum { ROWS = 400, N = 67 };
    static float r[ROWS][N];
    static const float pool[] = {0.0f, -0.0f, 1.5f, -2.0f, 1.5f, -INFINITY, NAN, 3.25f};
    int want[ROWS], got[ROWS];
    for (int i = 0; i < ROWS; i++)
        for (int j = 0; j < N; j++) r[i][j] = (i % 3 == 0) ? pool[(rng = rng * 1103515245u + 12345u) >> 16 & 7] : frand();
    for (int isa = 0; isa < QMM_ISA_COUNT; isa++) {
        if (!qmm_isa_available(isa)) continue;
        int same = 1;
        for (int n = 1; n <= N; n++) {
            for (int i = 0; i < ROWS; i++) {
                argmax_cpu_isa(QMM_ISA_C, &want[i], r[i], 1, n);
                argmax_cpu_isa(isa, &got[i], r[i], 1, n);
                same &= want[i] == got[i];
            }
        }
        CHECK(same, "argmax %s equals the scalar loop on %d rows of 1..%d values (ties, NaN, +-0, -inf)",
              qmm_isa_name(isa), ROWS, N);
    }
}

/* The decode kernel before keys went four at a time (one key, one scalar dot product at a time, a
 * fused multiply-add per term): the blocked kernel must give exactly these bits. */
static void decode_attention_scalar(float *out, const float *q, const decode_seq *seqs, int B, int H, int Hkv, int hd,
                                    float *sc)
{
    const int n_rep = H / Hkv, ks = Hkv * hd;
    const float scale = 1.0f / sqrtf((float)hd);
    for (int b = 0; b < B; b++) {
        for (int h = 0; h < H; h++) {
            const decode_seq *sq = &seqs[b];
            const float *qv = q + ((long)b * H + h) * hd;
            const int *pos = sq->pos + (long)h * sq->cap;
            int np = sq->len[h], n = np + sq->n_tail, off = (h / n_rep) * hd;
            float m = -FLT_MAX;
            for (int j = 0; j < n; j++) {
                const float *kr = j < np ? sq->k_prefix + (long)pos[j] * ks + off : sq->k_tail + (long)(j - np) * ks + off;
                float d = 0;
                for (int t = 0; t < hd; t++) d = fmaf(qv[t], kr[t], d);
                sc[j] = d * scale;
                m = sc[j] > m ? sc[j] : m;
            }
            double sum = 0;
            for (int j = 0; j < n; j++) sum += (sc[j] = expf(sc[j] - m));
            float inv = (float)(1.0 / sum), *o = out + ((long)b * H + h) * hd;
            for (int t = 0; t < hd; t++) o[t] = 0;
            for (int j = 0; j < n; j++) {
                const float *vr = j < np ? sq->v_prefix + (long)pos[j] * ks + off : sq->v_tail + (long)(j - np) * ks + off;
                float p = sc[j] * inv;
                for (int t = 0; t < hd; t++) o[t] = fmaf(p, vr[t], o[t]);
            }
        }
    }
}

/* Views shared by every head (FullKV-like), by pairs, or each head's own, with lengths that are not
 * multiples of the 4-key block nor of the 64-key block of the AVX-512 version, give the scalar
 * kernel's bits exactly in every version this CPU runs. SmolLM2's and Llama-3's GQA shapes. */
static void test_decode_blocked(int H, int Hkv, int hd, int L, float qscale)
{
    enum { T = 5, B = 3 };
    const int kvd = Hkv * hd;
    float *kp = malloc(sizeof(float) * L * kvd), *vp = malloc(sizeof(float) * L * kvd);
    float *kt = malloc(sizeof(float) * B * T * kvd), *vt = malloc(sizeof(float) * B * T * kvd);
    float *q = malloc(sizeof(float) * B * H * hd), *o1 = malloc(sizeof(float) * B * H * hd);
    float *o2 = malloc(sizeof(float) * B * H * hd), *sc = malloc(sizeof(float) * (L + T));
    int *pos = malloc(sizeof(int) * B * H * L), *len = malloc(sizeof(int) * B * H);
    for (int i = 0; i < L * kvd; i++) kp[i] = frand() * 2, vp[i] = frand();
    for (int i = 0; i < B * T * kvd; i++) kt[i] = frand() * 2, vt[i] = frand();
    for (int i = 0; i < B * H * hd; i++) q[i] = frand() * qscale;
    decode_seq seqs[B];
    for (int b = 0; b < B; b++) {
        for (int h = 0; h < H; h++) {
            /* b0: one view; b1: pairs; b2: every head its own, some short (the AVX-512 version scores
             * every prompt position once for the long views, and gathers the short ones' keys) */
            int n = 0, key = b == 0 ? 0 : b == 1 ? h / 2 : h;
            for (int j = 0; j < L; j++)
                if (b == 2 && h % 3 == 2 ? j % 7 == 3 : b == 0 || (j * (key + 2)) % 3 != 1) pos[(b * H + h) * L + n++] = j;
            len[b * H + h] = n;
        }
        seqs[b] = (decode_seq){kp, vp, pos + b * H * L, len + b * H, L, kt + b * T * kvd, vt + b * T * kvd, T - b, NULL, 0};
    }
    decode_attention_scalar(o2, q, seqs, B, H, Hkv, hd, sc);
    for (int isa = 0; isa < QMM_ISA_COUNT; isa++) {
        if (!qmm_isa_available(isa)) continue;
        decode_attention_cpu_isa(isa, o1, q, seqs, B, H, Hkv, hd);
        CHECK(!memcmp(o1, o2, sizeof(float) * B * H * hd), "decode attention (%s) H=%d Hkv=%d hd=%d L=%d: "
              "bit-identical to one key at a time (query scale %g)", qmm_isa_name(isa), H, Hkv, hd, L, qscale);
    }
    /* With a view id the plan is kept between calls: the next "step" (new queries, a longer tail)
     * takes it from the slot, and a new id (other views) builds its own. Bits as without. */
    static unsigned long next_id = 1000;
    const unsigned long id = ++next_id;
    int kept = 1;
    for (int step = 0; step < 3; step++) {
        for (int i = 0; i < B * H * hd; i++) q[i] = frand() * qscale;
        for (int b = 0; b < B; b++) seqs[b].view_id = step < 2 ? id : ++next_id, seqs[b].n_tail = T - b - (step == 0);
        for (int b = 1; b < B && step == 2; b++) seqs[b].view_id = seqs[0].view_id;
        if (step == 2) len[H + 1] -= 5; /* other views under the new id */
        decode_attention_scalar(o2, q, seqs, B, H, Hkv, hd, sc);
        decode_attention_cpu_isa(qmm_isa_default(), o1, q, seqs, B, H, Hkv, hd);
        kept &= !memcmp(o1, o2, sizeof(float) * B * H * hd);
    }
    CHECK(kept, "decode attention H=%d Hkv=%d hd=%d L=%d: plans kept per view id give the same bits, and a new id "
          "new views", H, Hkv, hd, L);
    free(kp), free(vp), free(kt), free(vt), free(q), free(o1), free(o2), free(sc), free(pos), free(len);
}

/* expf_shifted_cpu gives expf(x - shift) bit for bit: arguments across (-88, 0], below -88 (expf's
 * own subnormal/zero range), above 0 (a logit past the shift), and lengths that are not multiples of 8. */
static void test_expf_shifted(void)
{
    enum { N = 4099 };
    float *x = malloc(sizeof(float) * N), *e = malloc(sizeof(float) * N);
    for (int i = 0; i < N; i++) x[i] = i % 97 == 0 ? 3.5f : i % 89 == 0 ? -120.0f + frand() : -90.0f * frand();
    const float shift = 1.25f;
    for (int isa = 0; isa < QMM_ISA_COUNT; isa++) {
        if (!qmm_isa_available(isa)) continue;
        int same = 1;
        for (int n = 0; n <= N; n += n < 20 ? 1 : 1021) {
            expf_shifted_cpu_isa(isa, e, x, shift, n);
            for (int j = 0; j < n; j++) {
                const float want = expf(x[j] - shift);
                same &= !memcmp(&want, &e[j], sizeof want);
            }
        }
        CHECK(same, "expf_shifted_cpu %s: expf(x - shift) bit for bit, n = 0..%d (8-wide %s)", qmm_isa_name(isa), N,
              expf_wide_for(isa) ? "on" : "off: this CPU, instruction set or libm");
        memcpy(e, x, sizeof(float) * N);
        expf_shifted_cpu_isa(isa, e, e, shift, N); /* in place, as the softmaxes call it */
        same = 1;
        for (int j = 0; j < N; j++) {
            const float want = expf(x[j] - shift);
            same &= !memcmp(&want, &e[j], sizeof want);
        }
        CHECK(same, "expf_shifted_cpu %s in place", qmm_isa_name(isa));
    }
    free(x), free(e);
}

int main(void)
{
    test_expf_shifted();
    test_rope_freq();
    test_rope_rotation();
    test_rmsnorm_swiglu();
    test_attention_prefill(1, 2, 1, 8);
    test_attention_prefill(70, 4, 2, 16);   /* crosses the 64-row block */
    test_attention_prefill(130, 9, 3, 64);  /* SmolLM2's GQA 9/3 */
    test_decode_attention();
    test_decode_blocked(9, 3, 64, 77, 2);   /* SmolLM2 */
    test_decode_blocked(9, 3, 64, 300, 2);  /* several 64-key blocks */
    test_decode_blocked(9, 3, 64, 300, 60); /* scores more than 88 below the max: expf's own range checks */
    test_decode_blocked(8, 2, 128, 77, 2);  /* Llama-3's 4 query heads per KV head */
    test_decode_blocked(16, 2, 64, 70, 2);  /* 8 query heads per KV head: two groups of 4 */
    test_decode_blocked(6, 2, 80, 40, 2);   /* a head dim of 64 + 16 */
    test_decode_blocked(6, 2, 24, 40, 2);   /* 3 vectors of 8: the AVX2 version's alone */
    test_decode_blocked(4, 4, 16, 77, 2);   /* no sharing */
    test_argmax();
    return check_report("test_kernels");
}
