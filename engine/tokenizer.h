/* tokenizer: byte-level BPE as Hugging Face tokenizers does it (tokenizer.json) and as GGUF
 * metadata describes it, with the Llama-3 and SmolLM2 pre-tokenizers (PCRE2 regexes), added and
 * special tokens, ignore_merges, and decode with skip-special and clean-up. */
#ifndef KV_TOKENIZER_H
#define KV_TOKENIZER_H

#include <stddef.h>

struct gguf_file;
typedef struct tokenizer tokenizer; /* opaque */

/* path: an HF model directory (tokenizer.json + tokenizer_config.json), a tokenizer.json file,
 * or a .gguf file. Status; kv_lasterr() says what is wrong and where. */
int tokenizer_load(const char *path, tokenizer **out);
int tokenizer_load_gguf(const struct gguf_file *g, tokenizer **out);
void tokenizer_free(tokenizer *t);

/* Encode UTF-8 text (special tokens in the text are matched as added tokens, like HF).
 * add_bos prepends bos_id. *ids is malloc'd; the caller frees. */
int tokenizer_encode(const tokenizer *t, const char *text, size_t len, int add_bos, int **ids, int *n);
/* Decode to UTF-8 (invalid bytes → U+FFFD). *text is malloc'd and NUL-terminated; the caller frees. */
int tokenizer_decode(const tokenizer *t, const int *ids, int n, int skip_special, int cleanup,
                     char **text, size_t *len);

int tokenizer_vocab_size(const tokenizer *t);
int tokenizer_bos_id(const tokenizer *t);   /* -1 if none */
/* The tokenizer's own special-token setting (HF add_special_tokens=True): 1 when encoding a
 * prompt prepends BOS (Llama-3), 0 when not (SmolLM2). Callers pass it as add_bos. */
int tokenizer_add_bos(const tokenizer *t);
/* Where that setting came from, e.g. "GGUF tokenizer.ggml.add_bos_token" (for logs and outputs). */
const char *tokenizer_add_bos_source(const tokenizer *t);
int tokenizer_eos_id(const tokenizer *t);   /* eos_token of tokenizer_config.json / GGUF */
int tokenizer_is_special(const tokenizer *t, int id);
int tokenizer_token_id(const tokenizer *t, const char *token); /* exact vocab/added lookup, -1 if absent */
const char *tokenizer_chat_template(const tokenizer *t); /* raw jinja text or NULL */
/* clean_up_tokenization_spaces of tokenizer_config.json (transformers' default, 0, without one). */
int tokenizer_cleanup_default(const tokenizer *t);

#endif
