/* ab_decode_kernels (dev-only): the two kernels of a batched decode step of `bench --variants all`
 * (the demo model's 26 variants, 2,048-token prompt), each in an old build (OLD: compiled from a
 * previous commit with its symbols renamed) and this tree's, alternating, on one thread; thread CPU
 * time, best of R rounds, and whether the outputs are bit-identical.
 *   decode attention: the 26 views of a real prefill (cached in VIEWS after the first run) over a
 *     random prefix store of the model's shape (30 layers x 2,048 positions x 3 KV heads x 64), 16
 *     tail tokens each: one step = 30 calls with B = 26.
 *   weights: SmolLM2's matrices in Q4_1 (7 a layer x 30) and the Q8_0 lm_head, random blocks, x of 21
 *     rows (the variants a step decodes);
 *     then this tree's 8-bit-activation kernels (qmatmul_q8act_cpu, --activations q8) on the same.
 * build (BASE: the commit to compare with):
 *   git show BASE:kernels/cpu/decode_attention.c > /tmp/da_old.c; git show BASE:kernels/cpu/qmatmul.c > /tmp/qm_old.c
 *   R="-Dqmatmul_fused_cpu=qmatmul_fused_old -Dqmm_isa_name=qmm_isa_name_old -Dqmm_isa_available=qmm_isa_available_old
 *      -Dqmm_isa_default=qmm_isa_default_old -Dqmatrix_dequant_cpu=qmatrix_dequant_old
 *      -Ddecode_attention_cpu=decode_attention_old -Ddecode_tail_store_cpu=decode_tail_store_old
 *      -Ddecode_attention_cpu_isa=decode_attention_isa_old"
 *   mpicc -std=c11 -O2 -fopenmp -D_GNU_SOURCE -I. $R -c /tmp/da_old.c -o /tmp/da_old.o
 *   mpicc -std=c11 -O2 -fopenmp -D_GNU_SOURCE -I. $R -c /tmp/qm_old.c -o /tmp/qm_old.o
 *   mpicc -std=c11 -O2 -fopenmp -D_GNU_SOURCE -I. tools/ab_decode_kernels.c /tmp/da_old.o /tmp/qm_old.o \
 *     build/lib/libkv_engine.a build/lib/libkv_kernels.a build/lib/libkv_util.a $(make -s print-ldlibs | tail -1) \
 *     -o build/ab_decode_kernels
 * run:  build/ab_decode_kernels MODEL.gguf VIEWS ROUNDS */
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "engine/engine.h"
#include "kernels/decode_attention.h"
#include "kernels/qmatmul.h"
#include "util/util.h"

void decode_attention_old(float *out, const float *q, const decode_seq *seqs, int B, int H, int Hkv, int hd);
void qmatmul_fused_old(int isa, float *out, const float *x, const qmatrix *w, int n);

enum { L = 2048, NL = 30, H = 9, HKV = 3, HD = 64, NV = 26, TAIL = 16 };
enum { NW = 21 }; /* activation rows of the weights: the variants a step decodes (5 of the 26 are twins) */

static double thread_cpu(void)
{
    struct timespec t;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
    return t.tv_sec + 1e-9 * t.tv_nsec;
}

static float frnd(unsigned *s)
{
    *s = *s * 1103515245u + 12345u;
    return ((*s >> 8) & 0xffff) / 32768.0f - 1;
}

/* The 26 variants' views (len: NV x NL x H, pos: NV x NL x H x L) of bench's prompt ids, from a
 * prefill of the model, or from the cache file. */
static int load_views(const char *model, const char *cache, int *len, int *pos)
{
    const size_t nl = (size_t)NV * NL * H, np = nl * L;
    FILE *f = fopen(cache, "rb");
    if (f) {
        int ok = fread(len, sizeof(int), nl, f) == nl && fread(pos, sizeof(int), np, f) == np;
        fclose(f);
        return ok ? 0 : -1;
    }
    engine_opts o = {.backend = "cpu", .threads = 2, .tp = 1};
    engine *e;
    if (engine_open(model, &o, &e) != KV_OK) return -1;
    int *ids = kv_malloc(sizeof(int) * L);
    unsigned s = 12345;
    for (int i = 0; i < L; i++) s = s * 1103515245u + 12345u, ids[i] = (int)(100 + (s >> 8) % (unsigned)(engine_config(e)->vocab_size / 2));
    static const char *const methods[] = {"snapkv", "pyramidkv", "h2o", "streamingllm", "circuitkv"};
    variant vars[NV];
    int n = 0;
    variant_init(&vars[n++], method_find("fullkv"), 0, PRESET_REFERENCE_HEAD);
    for (int m = 0; m < 5; m++)
        for (int b = 128; b <= 2048; b *= 2) variant_init(&vars[n++], method_find(methods[m]), b, PRESET_REFERENCE_HEAD);
    gen_params gp = {.max_new_tokens = 1, .keep_views = 1};
    gen_result out[NV];
    if (engine_generate(e, ids, L, vars, NV, &gp, out, NULL) != KV_OK) return -1;
    for (int v = 0; v < NV; v++) {
        memcpy(len + (size_t)v * NL * H, out[v].view.len, sizeof(int) * NL * H);
        memcpy(pos + (size_t)v * NL * H * L, out[v].view.pos, sizeof(int) * (size_t)NL * H * L);
        gen_result_free(&out[v]);
    }
    free(ids);
    engine_close(e);
    if ((f = fopen(cache, "wb"))) fwrite(len, sizeof(int), nl, f), fwrite(pos, sizeof(int), np, f), fclose(f);
    return 0;
}

static void attention_ab(const int *len, const int *pos, int rounds)
{
    const int ks = HKV * HD;
    unsigned s = 7;
    float *kp = kv_malloc(sizeof(float) * NL * L * ks), *vp = kv_malloc(sizeof(float) * NL * L * ks);
    float *kt = kv_malloc(sizeof(float) * NV * NL * TAIL * ks), *vt = kv_malloc(sizeof(float) * NV * NL * TAIL * ks);
    float *q = kv_malloc(sizeof(float) * NV * H * HD), *o1 = kv_malloc(sizeof(float) * NV * H * HD);
    float *o2 = kv_malloc(sizeof(float) * NV * H * HD);
    for (long i = 0; i < (long)NL * L * ks; i++) kp[i] = frnd(&s) * 2, vp[i] = frnd(&s);
    for (long i = 0; i < (long)NV * NL * TAIL * ks; i++) kt[i] = frnd(&s) * 2, vt[i] = frnd(&s);
    for (int i = 0; i < NV * H * HD; i++) q[i] = frnd(&s) * 3;
    decode_seq *ds = kv_malloc(sizeof *ds * NL * NV);
    for (int l = 0; l < NL; l++)
        for (int v = 0; v < NV; v++)
            ds[l * NV + v] = (decode_seq){kp + (long)l * L * ks, vp + (long)l * L * ks,
                                          pos + ((long)v * NL * H + l * H) * L, len + (v * NL + l) * H, L,
                                          kt + ((long)v * NL + l) * TAIL * ks, vt + ((long)v * NL + l) * TAIL * ks,
                                          TAIL, NULL, (unsigned long)l + 1}; /* plans kept per layer, as the engine does */
    double best_old = 1e30, best_new = 1e30;
    int same = 1;
    for (int r = 0; r < rounds; r++) {
        double t0 = thread_cpu();
        for (int l = 0; l < NL; l++) decode_attention_old(o1, q, ds + l * NV, NV, H, HKV, HD);
        double t1 = thread_cpu();
        for (int l = 0; l < NL; l++) decode_attention_cpu(o2, q, ds + l * NV, NV, H, HKV, HD);
        double t2 = thread_cpu();
        same &= !memcmp(o1, o2, sizeof(float) * NV * H * HD);
        best_old = t1 - t0 < best_old ? t1 - t0 : best_old, best_new = t2 - t1 < best_new ? t2 - t1 : best_new;
    }
    printf("decode attention of one step (26 views, 1 thread, best of %d): old %.1f ms, new %.1f ms (%.2fx); %s\n",
           rounds, best_old * 1e3, best_new * 1e3, best_old / best_new, same ? "bit-identical" : "OUTPUTS DIFFER");
    free(kp), free(vp), free(kt), free(vt), free(q), free(o1), free(o2), free(ds);
}

static qmatrix random_qmatrix(int type, int64_t rows, int64_t cols, unsigned *s)
{
    const int bb = type == QTYPE_Q8_0 ? 34 : 20; /* block bytes; the scales (first halves) set to 2^-4 */
    qmatrix w = {.type = type, .rows = rows, .cols = cols, .row_bytes = (size_t)cols / 32 * bb};
    uint8_t *d = kv_malloc(w.row_bytes * rows);
    for (size_t k = 0; k < w.row_bytes * rows; k++) d[k] = (uint8_t)(frnd(s) * 127);
    for (size_t b = 0; b < w.row_bytes * rows; b += bb) d[b] = 0x00, d[b + 1] = 0x2c;
    w.data = d;
    return w;
}

static void weights_ab(int rounds)
{
    static const int64_t shapes[7][2] = {{1536, 576}, {1536, 576}, {576, 1536}, {576, 576}, {576, 576}, {192, 576}, {192, 576}};
    qmatrix ws[7 * NL + 1];
    unsigned s = 1;
    int nw = 0;
    for (int l = 0; l < NL; l++)
        for (int i = 0; i < 7; i++) ws[nw++] = random_qmatrix(QTYPE_Q4_1, shapes[i][0], shapes[i][1], &s);
    ws[nw++] = random_qmatrix(QTYPE_Q8_0, 49152, 576, &s);
    float *x = kv_malloc(sizeof(float) * NW * 1536), *o1 = kv_malloc(sizeof(float) * NW * 49152);
    float *o2 = kv_malloc(sizeof(float) * NW * 49152);
    for (int i = 0; i < NW * 1536; i++) x[i] = frnd(&s);
    const int isa = qmm_isa_default();
    double best_old = 1e30, best_new = 1e30;
    int same = 1;
    /* AB_COLD=1: weights from memory, as in a real step (whose K/V reads evict them): 512 MiB written
     * before each side */
    const size_t flush_n = getenv("AB_COLD") ? (size_t)512 << 20 : 0;
    char *flush = flush_n ? kv_malloc(flush_n) : NULL;
    double cold_old = 0, cold_new = 0;
    for (int r = 0; r < rounds; r++) {
        if (flush) memset(flush, r, flush_n);
        double t0 = thread_cpu();
        for (int i = 0; i < nw; i++) qmatmul_fused_old(isa, o1, x, &ws[i], NW);
        double t1 = thread_cpu(), t_old = t1 - t0;
        if (flush) memset(flush, r + 1, flush_n), cold_old += t_old, t1 = thread_cpu();
        for (int i = 0; i < nw; i++) qmatmul_fused_cpu(isa, o2, x, &ws[i], NW);
        double t2 = thread_cpu();
        if (flush) cold_new += t2 - t1;
        same &= !memcmp(o1, o2, sizeof(float) * NW * 49152);
        best_old = t_old < best_old ? t_old : best_old, best_new = t2 - t1 < best_new ? t2 - t1 : best_new;
    }
    printf("weights of one step (%d rows, %s, 1 thread, best of %d): old %.1f ms, new %.1f ms (%.2fx); %s\n",
           NW, qmm_isa_name(isa), rounds, best_old * 1e3, best_new * 1e3, best_old / best_new,
           same ? "bit-identical (lm_head)" : "OUTPUTS DIFFER");
    if (flush) printf("  (weights from memory, AB_COLD: 512 MiB written before each side; means old %.1f ms, new %.1f ms)\n",
                      cold_old / rounds * 1e3, cold_new / rounds * 1e3);
    /* this tree's 8-bit-activation kernels (--activations q8) on the same matrices and rows */
    const int kern = qmm_q8_for_isa(isa);
    double best_q8 = 1e30;
    for (int r = 0; r < rounds; r++) {
        double t0 = thread_cpu();
        for (int i = 0; i < nw; i++) qmatmul_q8act_cpu(kern, o1, x, &ws[i], NW);
        double t = thread_cpu() - t0;
        best_q8 = t < best_q8 ? t : best_q8;
    }
    printf("weights of one step with 8-bit activations (%s, 1 thread, best of %d): %.1f ms (new fp32 / q8: %.2fx)\n",
           qmm_q8_name(kern), rounds, best_q8 * 1e3, best_new / best_q8);
    for (int i = 0; i < nw; i++) free(ws[i].data);
    free(x), free(o1), free(o2), free(flush);
}

int main(int argc, char **argv)
{
    if (argc < 4) {
        fprintf(stderr, "usage: ab_decode_kernels MODEL.gguf VIEWS_CACHE ROUNDS\n");
        return 2;
    }
    int *len = kv_malloc(sizeof(int) * NV * NL * H), *pos = kv_malloc(sizeof(int) * (size_t)NV * NL * H * L);
    if (load_views(argv[1], argv[2], len, pos)) {
        fprintf(stderr, "ab_decode_kernels: no views: %s\n", kv_lasterr());
        return 1;
    }
    omp_set_num_threads(1);
    attention_ab(len, pos, atoi(argv[3]));
    weights_ab(atoi(argv[3]));
    free(len), free(pos);
    return 0;
}
