/* roofline: device peaks and the byte/FLOP counts of decode and prefill (see roofline.h). */
#include "engine/roofline.h"

#include <strings.h>
#include <string.h>

const roofline_device ROOFLINE_H200 = {"H200", 4.8e12, 989e12};
const roofline_device ROOFLINE_H100 = {"H100", 3.35e12, 989e12};

static const char *find_ci(const char *hay, const char *needle)
{
    size_t n = strlen(needle);
    for (; *hay; hay++)
        if (!strncasecmp(hay, needle, n)) return hay;
    return NULL;
}

const roofline_device *roofline_device_find(const char *device)
{
    static const roofline_device *const known[] = {&ROOFLINE_H200, &ROOFLINE_H100};
    if (!device) return NULL;
    for (size_t i = 0; i < sizeof known / sizeof *known; i++)
        if (find_ci(device, known[i]->name)) return known[i];
    return NULL;
}

/* One layer's parameters on a shard: q/o (dim × H·hd), k/v (dim × Hkv·hd), gate/up/down
 * (dim × hidden), split tp ways; the two norms (dim each) replicated. */
static double layer_params(const model_config *c, int tp)
{
    double d = c->dim, hd = c->head_dim;
    double mats = d * c->n_heads * hd * 2 + d * c->n_kv_heads * hd * 2 + 3 * d * c->hidden_dim;
    return mats / tp + 2 * d;
}

static double embed_params(const model_config *c)
{
    return (double)c->vocab_size * c->dim * (c->tied_embeddings ? 1 : 2) + c->dim;
}

double roofline_params(const model_config *c) { return roofline_shard_params(c, 1); }

double roofline_shard_params(const model_config *c, int tp)
{
    if (tp < 1) tp = 1;
    return layer_params(c, tp) * c->n_layers + embed_params(c);
}

double roofline_decode_bytes(const model_config *c, int tp, double weight_bytes, int batch, double kv_tokens,
                             double kv_bytes)
{
    if (tp < 1) tp = 1;
    double kv_per_token = 2.0 * c->n_layers * ((double)c->n_kv_heads / tp) * c->head_dim * kv_bytes;
    return roofline_shard_params(c, tp) * weight_bytes + (double)batch * kv_tokens * kv_per_token;
}

double roofline_prefill_flops(const model_config *c, int tp, int L)
{
    if (tp < 1) tp = 1;
    double linear = 2.0 * (layer_params(c, tp) - 2.0 * c->dim) * L * c->n_layers;
    double logits = 2.0 * c->dim * c->vocab_size;
    double attn = 4.0 * c->head_dim * ((double)c->n_heads / tp) * ((double)L * (L + 1) / 2) * c->n_layers;
    return linear + logits + attn;
}

double roofline_decode_macs(const model_config *c, int tp)
{
    if (tp < 1) tp = 1;
    return (layer_params(c, tp) - 2.0 * c->dim) * c->n_layers + (double)c->dim * c->vocab_size;
}

double roofline_attention_macs(const model_config *c, int tp, double kv_tokens)
{
    if (tp < 1) tp = 1;
    return 2.0 * c->head_dim * ((double)c->n_heads / tp) * c->n_layers * kv_tokens;
}

static roofline_point point(double work, double peak, double seconds)
{
    roofline_point p = {0};
    p.achieved = seconds > 0 ? work / seconds : 0;
    p.peak = peak;
    p.percent = peak > 0 ? 100.0 * p.achieved / peak : 0;
    p.bound_s = peak > 0 ? work / peak : 0;
    return p;
}

roofline_point roofline_decode(const roofline_device *d, double bytes, double seconds)
{
    return point(bytes, d ? d->hbm_bytes_per_s : 0, seconds);
}

roofline_point roofline_prefill(const roofline_device *d, double flops, double seconds)
{
    return point(flops, d ? d->bf16_flop_per_s : 0, seconds);
}
