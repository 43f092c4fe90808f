/* gen_extras: recall fields of generate's JSON and its --kept-out file (gen_extras.h). */
#include "harness/cli/gen_extras.h"

#include <hdf5_hl.h>
#include <math.h>

#include "harness/sweep/kept_store.h"
#include "harness/sweep/store.h"
#include "util/util.h"

void gen_json_recall(json_t *o, const gen_result *r, int n_layers)
{
    if (!r->recall_layer) return;
    json_t *layers = json_array(), *steps = json_array();
    for (int l = 0; l < n_layers; l++) json_array_append_new(layers, json_real(r->recall_layer[l]));
    for (int s = 0; s < r->n_recall_steps; s++) json_array_append_new(steps, json_real(r->recall_step[s]));
    json_object_set_new(o, "recall", isnan(r->recall) ? json_null() : json_real(r->recall));
    json_object_set_new(o, "recall_layer", layers);
    json_object_set_new(o, "recall_steps", steps);
}

static int write_recall(hid_t f, const gen_result *r, int n_layers)
{
    hsize_t nl = (hsize_t)n_layers, ns = (hsize_t)r->n_recall_steps;
    int rc = h5_attr_double(f, "recall", r->recall);
    if (H5LTmake_dataset(f, "recall_layer", 1, &nl, H5T_NATIVE_DOUBLE, r->recall_layer) < 0 ||
        H5LTmake_dataset(f, "recall_steps", 1, &ns, H5T_NATIVE_FLOAT, r->recall_step) < 0)
        rc = KV_ERR;
    return rc;
}

int gen_kept_out(const char *path, const variant *v, const gen_result *r, int prompt_tokens, int n_layers)
{
    hid_t f = H5Fcreate(path, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    if (f < 0) {
        kv_seterr("--kept-out: cannot create %s", path);
        return KV_ERR;
    }
    char key[512];
    variant_describe(v, key, sizeof key);
    const kv_view *views[1] = {&r->view};
    kept_sets k;
    kept_sets_from_views(&k, views, &prompt_tokens, 1);
    int rc = kept_sets_write(f, &k) | h5_attr_str(f, "method", v->method->name) | h5_attr_int(f, "budget", v->budget) |
             h5_attr_str(f, "key", key) | h5_attr_int(f, "prompt_tokens", prompt_tokens);
    if (r->recall_layer) rc |= write_recall(f, r, n_layers);
    kept_sets_free(&k);
    if (H5Fclose(f) < 0) rc = KV_ERR;
    if (rc != KV_OK) kv_seterr("--kept-out: cannot write %s", path);
    return rc ? KV_ERR : KV_OK;
}
