/* recall: attention recall during generation (issue 18) — the descriptors of the backend's
 * attention_recall op for a decode batch, and the per-sequence sums over decode steps that become
 * gen_result.recall (overall), recall_layer (per layer) and recall_step (per step). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "engine/engine_internal.h"
#include "util/util.h"

recall_seq *recall_seqs_new(const engine *e, const decode_seq *ds, const decode_state *seqs, int B)
{
    const long ks = (long)e->Hkv * e->hd;
    recall_seq *rs = kv_malloc(sizeof *rs * (size_t)e->n_layers * B);
    for (long i = 0; i < (long)e->n_layers * B; i++) {
        const decode_seq *d = &ds[i];
        rs[i] = (recall_seq){
            .k_prefix = d->k_prefix, .L = (int)(seqs[i % B].prefix_layer_stride / ks),
            .pos = d->pos, .len = d->len, .cap = d->cap,
            .k_tail = d->k_tail, .n_tail = d->n_tail, .n_tail_at = d->n_tail_at,
        };
    }
    return rs;
}

struct recall_acc {
    int ns, n_layers, H, max_steps;
    double *layer_sum;  /* (ns, n_layers) over steps and heads */
    float *step;        /* (ns, max_steps) mean over layers and heads */
    int *steps;         /* (ns) */
    float *host;        /* (n_layers, B, H) the last step, B <= ns */
};

recall_acc *recall_acc_new(const engine *e, int ns, int max_steps)
{
    recall_acc *ra = kv_calloc(1, sizeof *ra);
    ra->ns = ns, ra->n_layers = e->n_layers, ra->H = e->H, ra->max_steps = max_steps;
    ra->layer_sum = kv_calloc((size_t)ns * e->n_layers, sizeof(double));
    ra->step = kv_calloc((size_t)ns * max_steps, sizeof(float));
    ra->steps = kv_calloc(ns, sizeof(int));
    ra->host = kv_malloc(sizeof(float) * (size_t)e->n_layers * ns * e->H);
    return ra;
}

void recall_acc_step(engine *e, decode_batch *db, recall_acc *ra, const int *alive, int n_alive)
{
    decode_batch_recall(e, db, ra->host);
    const int H = ra->H;
    for (int a = 0; a < n_alive; a++) {
        int s = alive[a];
        double all = 0;
        for (int l = 0; l < ra->n_layers; l++) {
            const float *r = ra->host + ((long)l * n_alive + a) * H;
            double sum = 0;
            for (int h = 0; h < H; h++) sum += r[h];
            ra->layer_sum[(long)s * ra->n_layers + l] += sum / H;
            all += sum / H;
        }
        if (ra->steps[s] < ra->max_steps) ra->step[(long)s * ra->max_steps + ra->steps[s]] = (float)(all / ra->n_layers);
        ra->steps[s]++;
    }
}

void recall_acc_finish(recall_acc *ra, gen_result *out)
{
    for (int s = 0; s < ra->ns; s++) {
        gen_result *g = &out[s];
        int n = ra->steps[s];
        g->n_recall_steps = n < ra->max_steps ? n : ra->max_steps;
        g->recall_layer = kv_malloc(sizeof(double) * ra->n_layers);
        g->recall_step = kv_malloc(sizeof(float) * (g->n_recall_steps ? g->n_recall_steps : 1));
        memcpy(g->recall_step, ra->step + (long)s * ra->max_steps, sizeof(float) * g->n_recall_steps);
        double all = 0;
        for (int l = 0; l < ra->n_layers; l++) {
            g->recall_layer[l] = n ? ra->layer_sum[(long)s * ra->n_layers + l] / n : NAN;
            all += g->recall_layer[l];
        }
        g->recall = all / ra->n_layers;
    }
    free(ra->layer_sum), free(ra->step), free(ra->steps), free(ra->host), free(ra);
}
