/* fuzz_safetensors_index: libFuzzer target for sharded checkpoints: the input is
 * model.safetensors.index.json in a folder that also holds one valid shard (a.safetensors, one
 * F32 tensor "w" of shape (2, 2)) and a config.json, so weight_map entries that name missing
 * files, other tensors, or the folder itself all reach the reader. The folder is also given to
 * the model config loader (config.json next to the index). */
#include "fuzz_common.h"
#include "engine/model.h"
#include "engine/safetensors.h"
#include "util/util.h"

static const char *fuzz_index_dir(void)
{
    static char dir[600];
    if (dir[0]) return dir;
    snprintf(dir, sizeof dir, "%s/ckpt", fuzz_dir());
    mkdir(dir, 0700);
    /* one shard: 8-byte header length, the JSON header, 16 bytes of data */
    static const char hdr[] = "{\"w\":{\"dtype\":\"F32\",\"shape\":[2,2],\"data_offsets\":[0,16]}}";
    uint8_t buf[8 + sizeof hdr - 1 + 16];
    uint64_t n = sizeof hdr - 1;
    for (int i = 0; i < 8; i++) buf[i] = (uint8_t)(n >> (8 * i));
    memcpy(buf + 8, hdr, n);
    float w[4] = {1, 2, 3, 4};
    memcpy(buf + 8 + n, w, sizeof w);
    char name[700];
    snprintf(name, sizeof name, "ckpt/a.safetensors");
    fuzz_write(name, buf, sizeof buf);
    static const char cfg[] =
        "{\"architectures\":[\"LlamaForCausalLM\"],\"hidden_size\":4,\"intermediate_size\":8,"
        "\"num_hidden_layers\":1,\"num_attention_heads\":2,\"num_key_value_heads\":1,"
        "\"vocab_size\":16,\"rms_norm_eps\":1e-5,\"rope_theta\":10000.0,\"tie_word_embeddings\":true}";
    fuzz_write("ckpt/config.json", (const uint8_t *)cfg, sizeof cfg - 1);
    return dir;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *dir = fuzz_index_dir();
    fuzz_write("ckpt/model.safetensors.index.json", data, size);
    safetensors *st;
    if (safetensors_open(dir, &st) == KV_OK) {
        for (int i = 0; i < safetensors_n_tensors(st); i++) {
            const safetensors_tensor *t = safetensors_tensor_at(st, i);
            (void)safetensors_file_path(st, t->file);
        }
        char hex[65];
        safetensors_header_hash(st, hex);
        safetensors_close(st);
    }
    model_config cfg;
    (void)model_config_load(dir, &cfg);
    return 0;
}
