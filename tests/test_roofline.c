/* test_roofline: the byte and FLOP counts behind the printed rooflines, against figures worked out
 * by hand for Llama-3-8B (DESIGN §7: 16.06 GB of bf16 weights, >= 3.35 ms per decode step on an
 * H200, 128 KiB of bf16 KV per token) and the device lookup from backend device strings. */
#include <math.h>

#include "engine/roofline.h"
#include "tests/check.h"

#define COUNT_RTOL 1e-9  /* counts are exact sums of products of integers */
#define FIGURE_RTOL 2e-3 /* DESIGN's figures are rounded to 3-4 digits */

static model_config llama3_8b(void)
{
    model_config c = {0};
    c.dim = 4096, c.hidden_dim = 14336, c.n_layers = 32, c.n_heads = 32, c.n_kv_heads = 8, c.head_dim = 128;
    c.vocab_size = 128256, c.tied_embeddings = 0;
    return c;
}

int main(void)
{
    model_config c = llama3_8b();
    double p = roofline_params(&c);
    /* per layer 2·4096² + 2·4096·1024 + 3·4096·14336 + 2·4096; embeddings 2·128256·4096 + 4096 */
    double want = 32.0 * (2.0 * 4096 * 4096 + 2.0 * 4096 * 1024 + 3.0 * 4096 * 14336 + 2 * 4096) + 2.0 * 128256 * 4096 + 4096;
    CHECK(check_close(p, want, 0, COUNT_RTOL), "llama3-8b params %.0f, want %.0f", p, want);
    CHECK(check_close(p * 2, 16.06e9, 0, FIGURE_RTOL), "bf16 weights %.4g bytes, DESIGN says 16.06 GB", p * 2);
    double bytes = roofline_decode_bytes(&c, 1, 2.0, 1, 0, 2);
    roofline_point d = roofline_decode(&ROOFLINE_H200, bytes, 0.00670);
    CHECK(check_close(d.bound_s, 3.35e-3, 0, FIGURE_RTOL), "decode bound %.4g s, DESIGN says 3.35 ms", d.bound_s);
    CHECK(check_close(d.percent, 100.0 * d.bound_s / 0.00670, 0, COUNT_RTOL), "percent %.3f", d.percent);
    double kv1 = roofline_decode_bytes(&c, 1, 2.0, 1, 1, 2) - bytes;
    CHECK(check_close(kv1, 128 * 1024, 0, COUNT_RTOL), "bf16 KV per token %.0f bytes, want 128 KiB", kv1);
    double kv26 = roofline_decode_bytes(&c, 1, 2.0, 26, 1000, 4) - bytes;
    CHECK(check_close(kv26, 26.0 * 1000 * 2 * 128 * 1024, 0, COUNT_RTOL), "fp32 KV of 26 x 1000 tokens %.0f", kv26);
    /* TP 8: layer matrices split, embeddings whole */
    double p8 = roofline_shard_params(&c, 8);
    double want8 = 32.0 * ((2.0 * 4096 * 4096 + 2.0 * 4096 * 1024 + 3.0 * 4096 * 14336) / 8 + 2 * 4096) +
                   2.0 * 128256 * 4096 + 4096;
    CHECK(check_close(p8, want8, 0, COUNT_RTOL), "tp 8 shard params %.0f, want %.0f", p8, want8);
    /* prefill FLOPs: linear + last logits + causal attention */
    int L = 2048;
    double f = roofline_prefill_flops(&c, 1, L);
    double lin = 2.0 * 32 * (2.0 * 4096 * 4096 + 2.0 * 4096 * 1024 + 3.0 * 4096 * 14336) * L;
    double att = 4.0 * 128 * 32 * (2048.0 * 2049 / 2) * 32;
    CHECK(check_close(f, lin + att + 2.0 * 4096 * 128256, 0, COUNT_RTOL), "prefill flops %.6g", f);
    roofline_point pf = roofline_prefill(&ROOFLINE_H200, f, 1.0);
    CHECK(check_close(pf.bound_s, f / 989e12, 0, COUNT_RTOL), "prefill bound %.4g s", pf.bound_s);
    CHECK(roofline_device_find("cuda:0 NVIDIA H200 (sm_90, 139 GiB, bf16 weights)") == &ROOFLINE_H200, "find H200");
    CHECK(roofline_device_find("cuda:0 NVIDIA H100 80GB HBM3") == &ROOFLINE_H100, "find H100");
    CHECK(roofline_device_find("cpu (16 threads)") == NULL, "cpu is not a known device");
    roofline_point none = roofline_decode(NULL, bytes, 0.01);
    CHECK(none.peak == 0 && none.percent == 0 && none.achieved > 0, "unknown device: achieved only");
    return check_report("test_roofline");
}
