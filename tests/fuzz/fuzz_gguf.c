/* fuzz_gguf: libFuzzer target for the GGUF reader (engine/gguf.c) and everything that reads GGUF
 * metadata: the model config (engine/model.c) and the GGUF tokenizer (engine/tokenizer_gguf.c).
 * A hostile file must give KV_ERR with a message, never a crash, a hang or a huge allocation. */
#include "fuzz_common.h"
#include "engine/gguf.h"
#include "engine/model.h"
#include "engine/tokenizer.h"
#include "util/util.h"

/* Dequantize at most this many elements per tensor: enough to walk every row-decoding path
 * without letting a declared multi-GB tensor make one input slow. */
#define FUZZ_GGUF_MAX_ELEMS 4096

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *path = fuzz_write("in.gguf", data, size);
    gguf_file *g;
    if (gguf_open(path, &g) != KV_OK) return 0;
    const void *hp;
    size_t hn;
    gguf_header_span(g, &hp, &hn);
    for (int i = 0; i < gguf_n_tensors(g); i++) {
        const gguf_tensor *t = gguf_tensor_at(g, i);
        if (t->n_dims < 1 || t->dims[0] <= 0 || t->dims[0] > FUZZ_GGUF_MAX_ELEMS) continue;
        int64_t rows = FUZZ_GGUF_MAX_ELEMS / t->dims[0];
        int64_t total = 1;
        for (int d = 1; d < t->n_dims; d++) total *= t->dims[d] > 0 ? t->dims[d] : 1;
        if (rows > total) rows = total;
        float *out = malloc((size_t)(rows * t->dims[0]) * sizeof *out);
        (void)gguf_tensor_rows_to_f32(g, t, 0, rows, out);
        free(out);
        (void)gguf_type_str(t->type);
    }
    int64_t iv;
    double dv;
    const char *s;
    size_t n;
    int et;
    (void)gguf_get_int(g, "llama.block_count", &iv);
    (void)gguf_get_float(g, "llama.rope.freq_base", &dv);
    (void)gguf_get_string(g, "general.name", &s, &n);
    if (gguf_get_array_info(g, "tokenizer.ggml.tokens", &et, &n) == KV_OK && n > 0)
        (void)gguf_get_array_string(g, "tokenizer.ggml.tokens", n - 1, &s, &n);
    tokenizer *tok;
    if (tokenizer_load_gguf(g, &tok) == KV_OK) {
        static const char text[] = "Hello world, <|im_start|> 12 345\n\xc3\xa9\xff";
        int *ids = NULL, n_ids = 0;
        if (tokenizer_encode(tok, text, sizeof text - 1, 1, &ids, &n_ids) == KV_OK) {
            char *back = NULL;
            size_t len;
            if (tokenizer_decode(tok, ids, n_ids, 1, 1, &back, &len) == KV_OK) free(back);
            free(ids);
        }
        tokenizer_free(tok);
    }
    gguf_close(g);
    model_config cfg;
    (void)model_config_load(path, &cfg);
    return 0;
}
