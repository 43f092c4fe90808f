/* fuzz_tokenizer: libFuzzer target for the tokenizer.json loader (engine/tokenizer_json.c and the
 * BPE in engine/tokenizer.c). A loaded tokenizer is exercised on a fixed text with special
 * tokens, spaces, digits and invalid UTF-8, and its ids are decoded back. */
#include "fuzz_common.h"
#include "engine/tokenizer.h"
#include "util/util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *path = fuzz_write("tokenizer.json", data, size);
    tokenizer *tok;
    if (tokenizer_load(path, &tok) != KV_OK) return 0;
    static const char text[] = "x <X> y  [L]b abc\tab 2024 it's  \n\n\xc3\xa9\xe2\x82\xac\xff<|eot_id|>";
    int *ids = NULL, n_ids = 0;
    if (tokenizer_encode(tok, text, sizeof text - 1, 1, &ids, &n_ids) == KV_OK) {
        char *back = NULL;
        size_t len;
        if (tokenizer_decode(tok, ids, n_ids, 0, 1, &back, &len) == KV_OK) free(back);
        if (tokenizer_decode(tok, ids, n_ids, 1, 0, &back, &len) == KV_OK) free(back);
        free(ids);
    }
    /* Ids that are not in the vocabulary must be refused or replaced, never read out of bounds. */
    int odd[] = {-1, tokenizer_vocab_size(tok), 0x7fffffff, 0};
    char *back = NULL;
    size_t len;
    if (tokenizer_decode(tok, odd, 4, 1, 1, &back, &len) == KV_OK) free(back);
    (void)tokenizer_token_id(tok, "<|eot_id|>");
    (void)tokenizer_is_special(tok, tokenizer_bos_id(tok));
    (void)tokenizer_chat_template(tok);
    tokenizer_free(tok);
    return 0;
}
