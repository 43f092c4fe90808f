#!/usr/bin/env python3
"""Golden ids for kvbench's GGUF tokenizer path: SmolLM2-135M-Instruct as transformers tokenizes it.

Writes tests/data/smollm2_tokenizer_golden.jsonl, one object per line:
  {"text": ..., "ids": [...]}                       encode, no special tokens added
  {"ids": [...], "decode": ..., "decode_skip_clean": ...}   decode (keep specials, no clean-up) and
                                                    decode(skip_special_tokens) + clean_up_tokenization
  {"chat_prompt": ..., "chat_text": ..., "chat_ids": [...]}  apply_chat_template of one user message,
                                                    add_generation_prompt=True, and its ids

The reference is transformers loading the GGUF (AutoTokenizer.from_pretrained(dir, gguf_file=...)),
with one correction: transformers builds a plain ByteLevel pre-tokenizer for tokenizer.ggml.pre
"smollm", while SmolLM2's own tokenizer.json (HuggingFaceTB/SmolLM2-135M-Instruct) has
Sequence[Digits(individual_digits=true), ByteLevel(add_prefix_space=false, use_regex=true)], and
llama.cpp's "smollm" pre-tokenizer does the same. The model was trained with the latter, so the
golden uses it; the script prints how many texts the uncorrected loader would tokenize differently.

usage: python tools/golden_smollm2_tokenizer.py [models/SmolLM2-135M-Instruct.Q4_1.gguf]
(needs transformers, tokenizers, gguf, and torch: transformers' GGUF metadata reader imports it)
"""
import copy
import json
import os
import sys

from tokenizers import pre_tokenizers
from transformers import AutoTokenizer

gguf = sys.argv[1] if len(sys.argv) > 1 else "models/SmolLM2-135M-Instruct.Q4_1.gguf"
out_path = os.path.join(os.path.dirname(__file__), "..", "tests", "data", "smollm2_tokenizer_golden.jsonl")

plain = AutoTokenizer.from_pretrained(os.path.dirname(os.path.abspath(gguf)), gguf_file=os.path.basename(gguf))
tok = copy.deepcopy(plain)
tok.backend_tokenizer.pre_tokenizer = pre_tokenizers.Sequence(
    [pre_tokenizers.Digits(individual_digits=True),
     pre_tokenizers.ByteLevel(add_prefix_space=False, trim_offsets=True, use_regex=True)])

texts = [
    # news prose (LongBench multi_news style)
    "WASHINGTON (AP) \u2014 The Senate voted 52-48 on Tuesday to confirm the nominee, ending a months-long "
    "fight that split both parties. \u201cIt's a good day,\u201d said Sen. Jane Doe, D-N.Y., who'd led the effort.",
    "Officials said 1,234 people were evacuated from the area on Jan. 3, 2024; damage was estimated at $4.5 million.",
    # Unicode, accents, CJK, Arabic, emoji (incl. ZWJ and skin tone)
    "\u00e7\u00e0 et l\u00e0, na\u00efve fa\u00e7ade \u2014 \u00dcn\u00efc\u00f6d\u00e9 \u00c5NGSTR\u00d6M",
    "\u4e2d\u6587\u6587\u672c\u6d4b\u8bd5\uff0c\u65e5\u672c\u8a9e\u306e\u30c6\u30ad\u30b9\u30c8\u3068\ud55c\uad6d\uc5b4",
    "\u0645\u0631\u062d\u0628\u0627 \u0628\u0627\u0644\u0639\u0627\u0644\u0645 \u05e9\u05dc\u05d5\u05dd \u041f\u0440\u0438\u0432\u0435\u0442 \u043c\u0438\u0440",
    "\U0001f642\U0001f643 emoji run \U0001f44d\U0001f3fd \U0001f468\u200d\U0001f469\u200d\U0001f467 \u2764\ufe0f",
    # code
    "def f(x):\n    return x**2 + 1  # square\n\nfor i in range(10):\n\tprint(f(i))\n",
    "x+=1;y-=2;//comment\nif (a != b && c <= d) { return -1; }",
    # digit runs, numbers next to spaces
    "3.14159 2,718 1e10 0x1F 1234567890 a 1 b  22 c   333 2024-01-01",
    # whitespace runs
    "   leading spaces", "trailing spaces   ", "a\n\n\nb\r\n\r\nc\t\t d \u3000e\u00a0f\u2028g\x85h",
    " ", "\n", "",
    # contractions (GPT-2 regex is case-sensitive)
    "Don't stop-believin' -- it's 2024!!! I'm, you're, we've, they'll, he'd WORD'S 'QUOTED' REALLY'LL",
    # special tokens in text
    "<|im_start|>user\nhello<|im_end|>\n<|im_start|>assistant\n",
    "text<|endoftext|>more <|im_end|>x<|im_start|>",
    "<repo_name>kvbench<file_sep>main.c<jupyter_code>print(1)",
]

lines = []
differs = 0
for t in texts:
    ids = tok.encode(t, add_special_tokens=False)
    if plain.encode(t, add_special_tokens=False) != ids:
        differs += 1
    lines.append({"text": t, "ids": ids})

for t in [texts[0], texts[2], texts[5], texts[16], texts[17]]:
    ids = tok.encode(t, add_special_tokens=False)
    lines.append({"ids": ids,
                  "decode": tok.decode(ids, skip_special_tokens=False, clean_up_tokenization_spaces=False),
                  # transformers 5 ignores clean_up_tokenization_spaces for BPE tokenizers; kvbench applies
                  # it where DESIGN says so (truncation), so the golden applies transformers' own rules.
                  "decode_skip_clean": tok.clean_up_tokenization(
                      tok.decode(ids, skip_special_tokens=True, clean_up_tokenization_spaces=False))})

for p in ["What is the capital of France?", "Summarize:\n\nThe quick brown fox jumps over the lazy dog."]:
    chat = tok.apply_chat_template([{"role": "user", "content": p}], tokenize=False, add_generation_prompt=True)
    lines.append({"chat_prompt": p, "chat_text": chat, "chat_ids": tok.encode(chat, add_special_tokens=False)})

with open(out_path, "w", encoding="utf-8") as f:
    for obj in lines:
        f.write(json.dumps(obj, ensure_ascii=False) + "\n")
print(f"wrote {len(lines)} lines to {out_path}; {differs}/{len(texts)} texts tokenize differently "
      f"with transformers' uncorrected GGUF pre-tokenizer; bos={plain.bos_token!r} eos={plain.eos_token!r} "
      f"add_bos={getattr(plain, 'add_bos_token', None)} clean_up={plain.clean_up_tokenization_spaces}")
