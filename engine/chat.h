/* chat: the chat wrappers of the known model families, chosen from the model's own metadata. */
#ifndef KV_CHAT_H
#define KV_CHAT_H

#include "engine/tokenizer.h"

typedef enum { CHAT_NONE = 0, CHAT_LLAMA3, CHAT_CHATML } chat_format;

/* The model's native format, detected from its chat template / special tokens. */
chat_format chat_detect(const tokenizer *t);
/* Wrap a user prompt; the result is malloc'd (caller frees). The text includes the BOS token text
 * where the family's template has it (Llama-3: "<|begin_of_text|>..." as DESIGN §5 specifies). */
char *chat_wrap(chat_format f, const char *prompt);
const char *chat_format_name(chat_format f);
int chat_format_parse(const char *name, chat_format *out); /* "none", "llama3", "chatml" */

#endif
