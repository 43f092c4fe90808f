/* test_cuda_recall: the CUDA attention_recall op (kernels/cuda/recall.cu) against its CPU oracle
 * through the two backends' vtables, on random views (empty, whole prompt, random subsets), tails of
 * 1..5 tokens, the tail length in device memory as a captured decode step reads it, and more
 * sequences than one launch holds. A whole-prompt view must give exactly 1 on the device too. On a
 * machine without a GPU it prints why it skipped and exits 0 without a pass count. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "engine/backend.h"
#include "kernels/recall.h"
#include "util/util.h"
#include "tests/check.h"

/* The device sums in fp32 over the block (the oracle sums exponentials in double): a mass ratio of
 * O(1) terms differs by a few fp32 ulps times log2(threads). */
#define RECALL_CUDA_ATOL 2e-5

static backend G, C;
static uint64_t rng_state = 0x2545f4914f6cdd1dull;
static double rnd(void)
{
    rng_state ^= rng_state << 13, rng_state ^= rng_state >> 7, rng_state ^= rng_state << 17;
    return (double)(rng_state >> 11) / 9007199254740992.0;
}
static float *rand_array(long n, float a)
{
    float *x = kv_malloc(sizeof(float) * (size_t)(n ? n : 1));
    for (long i = 0; i < n; i++) x[i] = (float)((2 * rnd() - 1) * a);
    return x;
}
static void *up(const void *src, size_t bytes)
{
    void *d = G.alloc(G.ctx, bytes ? bytes : 4);
    if (bytes) G.to_device(G.ctx, d, src, bytes);
    return d;
}

/* Head 0 keeps nothing, head 1 the whole prompt, the others a random sorted subset. */
static void random_view(int *pos, int *len, int H, int L)
{
    for (int h = 0; h < H; h++) {
        int want = h == 0 ? 0 : h == 1 ? L : (int)(rnd() * (L + 1)), m = 0;
        for (int j = 0; j < L && m < want; j++)
            if (rnd() * (L - j) < want - m) pos[(long)h * L + m++] = j;
        len[h] = m;
    }
}

static void run_case(int L, int B, int H, int Hkv, int hd, int count_on_device)
{
    const long ks = (long)Hkv * hd;
    float *kp = rand_array((long)L * ks, 2), *q = rand_array((long)B * H * hd, 2);
    float *dkp = up(kp, sizeof(float) * L * ks), *dq = up(q, sizeof(float) * B * H * hd);
    recall_seq *hs = kv_calloc(B, sizeof *hs), *ds = kv_calloc(B, sizeof *ds);
    for (int b = 0; b < B; b++) {
        int *pos = kv_calloc((size_t)H * L, sizeof(int)), *len = kv_calloc(H, sizeof(int));
        random_view(pos, len, H, L);
        int nt = 1 + (int)(rnd() * 5);
        float *kt = rand_array(nt * ks, 2);
        hs[b] = (recall_seq){kp, L, pos, len, L, kt, nt, NULL};
        ds[b] = (recall_seq){dkp, L, up(pos, sizeof(int) * H * L), up(len, sizeof(int) * H), L,
                             up(kt, sizeof(float) * nt * ks), nt, NULL};
        if (count_on_device) ds[b].n_tail_at = up(&nt, sizeof(int)), ds[b].n_tail = nt + 7;
    }
    float *ref = kv_malloc(sizeof(float) * B * H), *got = kv_malloc(sizeof(float) * B * H);
    float *dout = G.alloc(G.ctx, sizeof(float) * B * H);
    C.attention_recall(C.ctx, ref, q, hs, B, H, Hkv, hd);
    G.attention_recall(G.ctx, dout, dq, ds, B, H, Hkv, hd);
    G.to_host(G.ctx, got, dout, sizeof(float) * B * H);
    G.sync(G.ctx);
    for (int i = 0; i < B * H; i++) {
        CHECK(check_close(got[i], ref[i], RECALL_CUDA_ATOL, 0), "L%d B%d H%d hd%d row %d: cuda %.8f cpu %.8f", L, B, H,
              hd, i, got[i], ref[i]);
        if (i % H == 1) CHECK(got[i] == 1.0f, "whole-prompt view: cuda recall %.9g, not exactly 1", got[i]);
    }
    for (int b = 0; b < B; b++) {
        free((void *)hs[b].pos), free((void *)hs[b].len), free((void *)hs[b].k_tail);
        G.free(G.ctx, (void *)ds[b].pos), G.free(G.ctx, (void *)ds[b].len), G.free(G.ctx, (void *)ds[b].k_tail);
        if (ds[b].n_tail_at) G.free(G.ctx, (void *)ds[b].n_tail_at);
    }
    G.free(G.ctx, dkp), G.free(G.ctx, dq), G.free(G.ctx, dout);
    free(kp), free(q), free(hs), free(ds), free(ref), free(got);
}

int main(void)
{
    if (backend_open("cuda", 0, NULL, &G) != KV_OK) {
        printf("test_cuda_recall: skipped, no CUDA device (%s)\n", kv_lasterr());
        return 0;
    }
    backend_cpu_open(0, &C);
    for (int dev = 0; dev < 2; dev++) {
        run_case(50, 3, 4, 2, 64, dev);
        run_case(700, 40, 3, 1, 128, dev); /* more sequences than one launch holds */
        run_case(1, 2, 9, 3, 64, dev);
        run_case(3000, 2, 9, 3, 64, dev);
    }
    backend_close(&G);
    backend_close(&C);
    return check_report("test_cuda_recall");
}
