#!/usr/bin/env python3
"""Reference LongBench prompt ids (KVCache-Factory run_longbench.py logic) with the Hugging Face
`tokenizers` library, to check kvbench's template, chat wrapper and middle truncation:
tokenize with BOS; if longer than max, half = int(max/2), text = decode(ids[:half]) +
decode(ids[-half:]) with special tokens skipped and transformers' clean_up_tokenization; re-encode
with BOS. Prints JSONL {"index", "_id", "ids"} like `kvbench prompts`.
Usage: tools/longbench_ref_prompts.py TOKENIZER_JSON TEMPLATE_TASK DATA.jsonl MAX [--chat]
"""
import json
import sys

from tokenizers import Tokenizer

CHAT = ("<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\n{prompt}<|eot_id|>"
        "<|start_header_id|>assistant<|end_header_id|>\n\n")


def clean_up(s):
    for a, b in ((" .", "."), (" ?", "?"), (" !", "!"), (" ,", ","), (" ' ", "'"), (" n't", "n't"),
                 (" 'm", "'m"), (" 's", "'s"), (" 've", "'ve"), (" 're", "'re")):
        s = s.replace(a, b)
    return s


def main():
    tok = Tokenizer.from_file(sys.argv[1])
    tasks = json.load(open(sys.argv[2].split(":")[0]))["tasks"]
    task = [t for t in tasks if t["name"] == sys.argv[2].split(":")[1]][0]
    mx = int(sys.argv[4])
    chat = "--chat" in sys.argv
    for i, line in enumerate(open(sys.argv[3], encoding="utf-8")):
        ex = json.loads(line)
        prompt = task["template"].format(**ex)
        if chat:
            prompt = CHAT.format(prompt=prompt)
        ids = tok.encode(prompt, add_special_tokens=True).ids
        if mx > 0 and len(ids) > mx:
            half = int(mx / 2)
            prompt = (clean_up(tok.decode(ids[:half], skip_special_tokens=True)) +
                      clean_up(tok.decode(ids[-half:], skip_special_tokens=True)))
            ids = tok.encode(prompt, add_special_tokens=True).ids
        print(json.dumps({"index": i, "_id": ex["_id"], "ids": ids}, separators=(",", ":")))


if __name__ == "__main__":
    main()
