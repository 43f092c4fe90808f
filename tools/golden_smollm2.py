#!/usr/bin/env python3
"""golden_smollm2: reference logits and greedy continuations of the demo model, computed by Hugging
Face transformers from the same GGUF file kvbench loads, for the C forward-pass golden test.

Dev-only (needs torch, transformers, gguf, numpy: `./setup.sh --dev` or any venv). Usage:
    python3 tools/golden_smollm2.py [models/SmolLM2-135M-Instruct.Q4_1.gguf]

transformers dequantizes the GGUF to fp32 and un-permutes the q/k rows exactly as kvbench's loader
does, and runs the forward pass in fp32 on the CPU. Outputs (all little-endian):

tests/data/smollm2_golden.json
  {"model": file name, "model_bytes": size, "versions": {python, torch, transformers, gguf, numpy},
   "dtype": "float32", "vocab_size": V, "logits_file": "smollm2_logits.f32", "add_bos": false,
   "n_greedy": 40,
   "prompts": [{"name", "text", "ids": [...] (exactly the ids fed, no BOS, no chat wrapper),
                "logits_index": k  (this prompt's last-position logits are floats
                                    [k*V, (k+1)*V) of the .f32 file),
                "top5": [[id, logit], ...] (last position, for quick diagnostics),
                "greedy": [40 ids] (argmax, lowest id on ties, no EOS stop, KV-cached decode)}],
   "positions": {"prompt": name, "argmax": [per position argmax id],
                 "ids": [a few token ids], "logits": [per position, the logits of those ids]}}
tests/data/smollm2_logits.f32
  raw float32, len(prompts) x V: the last-position logits of each prompt, in prompt order.
tests/data/loaders/smollm2_weights.json
  spot values of the fp32 HF-layout weights (transformers' state dict after its GGUF load, i.e. with
  q/k rows un-permuted): {"tensors": [{"name" (HF name), "shape", "rows": [r...], "cols": [c...],
  "values": [[w[r][c] for c in cols] for r in rows]}]} and the same for gguf-python's raw dequant
  of a few GGUF tensors under "gguf_tensors" (GGUF name, ggml dims order reversed to numpy's).
"""
import json
import os
import platform
import sys

import numpy as np
import torch
import transformers
import gguf
from transformers import AutoModelForCausalLM, AutoTokenizer

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
N_GREEDY = 40

PROMPTS = [
    ("capital", "The capital of France is"),
    ("code", "def fibonacci(n):\n    \"\"\"Return the n-th Fibonacci number.\"\"\"\n"),
    ("story", "Once upon a time, in a small village by the sea, there lived an old fisherman who"),
    ("math", "Question: What is 12 times 7?\nAnswer:"),
    ("long", (
        "Key-value caches store the keys and values of every token a transformer has already "
        "processed, so that generating the next token only needs one new row of attention. "
        "For long documents this cache dominates memory: a model with thirty-two layers, eight "
        "key-value heads and a head dimension of one hundred twenty-eight keeps half a megabyte "
        "per token in half precision. Compression methods decide which tokens to keep. "
        "StreamingLLM keeps a few initial tokens, called attention sinks, and a sliding window of "
        "recent ones. SnapKV looks at the attention that the last few prompt tokens pay to the "
        "earlier ones, pools those scores over neighbouring positions, and keeps the most "
        "attended clusters. PyramidKV gives lower layers a larger budget than higher layers, "
        "because attention in early layers is spread widely while later layers focus on a few "
        "positions. H2O accumulates attention over all queries and keeps the heavy hitters. "
        "Each of these methods trades accuracy for memory, and the trade depends on the task: "
        "retrieval-heavy questions suffer when the needle is evicted, while summarisation is "
        "more forgiving. To compare them fairly, a benchmark must run every method on the same "
        "prompts, with the same truncation, the same chat template and the same decoding rules, "
        "and it must record every knob alongside the scores. In summary, the most important "
        "property of a fair benchmark is"
    )),
]


def main():
    path = sys.argv[1] if len(sys.argv) > 1 else os.path.join(
        ROOT, "models", "SmolLM2-135M-Instruct.Q4_1.gguf")
    path = os.path.realpath(path)
    folder, fname = os.path.dirname(path), os.path.basename(path)
    torch.manual_seed(0)
    torch.set_num_threads(max(1, min(2, os.cpu_count() or 1)))
    tok = AutoTokenizer.from_pretrained(folder, gguf_file=fname)
    model = AutoModelForCausalLM.from_pretrained(folder, gguf_file=fname, dtype=torch.float32)
    model.eval()
    vocab = model.config.vocab_size

    data_dir = os.path.join(ROOT, "tests", "data")
    os.makedirs(os.path.join(data_dir, "loaders"), exist_ok=True)
    out = {
        "model": fname,
        "model_bytes": os.path.getsize(path),
        "versions": {"python": platform.python_version(), "torch": torch.__version__,
                     "transformers": transformers.__version__,
                     "gguf": getattr(gguf, "__version__", "0.19.0"), "numpy": np.__version__},
        "dtype": "float32",
        "vocab_size": vocab,
        "logits_file": "smollm2_logits.f32",
        "add_bos": False,
        "n_greedy": N_GREEDY,
        "prompts": [],
    }
    all_logits = []
    with torch.no_grad():
        for k, (name, text) in enumerate(PROMPTS):
            ids = tok(text, add_special_tokens=False)["input_ids"]
            inp = torch.tensor([ids])
            res = model(inp, use_cache=True)
            last = res.logits[0, -1].float()
            all_logits.append(last.numpy().astype("<f4"))
            top = torch.topk(last, 5)
            greedy = []
            past = res.past_key_values
            nxt = int(torch.argmax(last))
            for _ in range(N_GREEDY):
                greedy.append(nxt)
                step = model(torch.tensor([[nxt]]), past_key_values=past, use_cache=True)
                past = step.past_key_values
                nxt = int(torch.argmax(step.logits[0, -1]))
            entry = {"name": name, "text": text, "ids": ids, "logits_index": k,
                     "top5": [[int(i), float(v)] for v, i in zip(top.values, top.indices)],
                     "greedy": greedy}
            out["prompts"].append(entry)
            print(f"{name}: {len(ids)} ids, top1 {int(top.indices[0])}, greedy "
                  f"{tok.decode(greedy)!r}", file=sys.stderr)
            if name == "story":
                allpos = res.logits[0].float()
                sel = [int(top.indices[0]), 13, 198, 330]
                out["positions"] = {
                    "prompt": name,
                    "argmax": [int(i) for i in torch.argmax(allpos, dim=-1)],
                    "ids": sel,
                    "logits": [[float(allpos[p, i]) for i in sel] for p in range(len(ids))],
                }

    with open(os.path.join(data_dir, "smollm2_golden.json"), "w") as f:
        json.dump(out, f, indent=1)
        f.write("\n")
    np.concatenate(all_logits).astype("<f4").tofile(os.path.join(data_dir, "smollm2_logits.f32"))

    # weight spot checks for the loader test
    sd = model.state_dict()
    picks = [
        ("model.embed_tokens.weight", [0, 1, 2, 49151], [0, 1, 31, 32, 575]),
        ("model.layers.0.self_attn.q_proj.weight", [0, 1, 31, 32, 33, 63, 64, 575],
         [0, 1, 2, 33, 575]),
        ("model.layers.0.self_attn.k_proj.weight", [0, 1, 31, 32, 63, 64, 100, 191],
         [0, 5, 575]),
        ("model.layers.29.self_attn.k_proj.weight", [0, 17, 32, 191], [0, 575]),
        ("model.layers.0.self_attn.v_proj.weight", [0, 1, 191], [0, 1, 575]),
        ("model.layers.0.self_attn.o_proj.weight", [0, 575], [0, 1, 575]),
        ("model.layers.3.mlp.gate_proj.weight", [0, 1535], [0, 575]),
        ("model.layers.3.mlp.up_proj.weight", [7, 1535], [0, 575]),
        ("model.layers.3.mlp.down_proj.weight", [0, 575], [0, 31, 32, 1535]),
        ("model.layers.5.input_layernorm.weight", None, [0, 1, 575]),
        ("model.layers.5.post_attention_layernorm.weight", None, [0, 575]),
        ("model.norm.weight", None, [0, 100, 575]),
    ]
    tensors = []
    for name, rows, cols in picks:
        w = sd[name].float().numpy()
        if rows is None:
            vals = [[float(w[c]) for c in cols]]
        else:
            vals = [[float(w[r, c]) for c in cols] for r in rows]
        tensors.append({"name": name, "shape": list(w.shape), "rows": rows, "cols": cols,
                        "values": vals})
    reader = gguf.GGUFReader(path)
    gt = []
    for t in reader.tensors:
        if t.name not in ("token_embd.weight", "blk.0.attn_q.weight", "blk.0.ffn_down.weight",
                          "blk.0.attn_norm.weight"):
            continue
        arr = gguf.dequantize(t.data, t.tensor_type).astype(np.float32)
        arr = arr.reshape(-1, arr.shape[-1])
        rows = sorted({0, 1, arr.shape[0] - 1} & set(range(arr.shape[0])))
        cols = sorted({0, 1, 31, 32, arr.shape[1] - 1} & set(range(arr.shape[1])))
        gt.append({"name": t.name, "shape": list(arr.shape), "rows": rows, "cols": cols,
                   "values": [[float(arr[r, c]) for c in cols] for r in rows]})
    with open(os.path.join(data_dir, "loaders", "smollm2_weights.json"), "w") as f:
        json.dump({"model": fname, "tensors": tensors, "gguf_tensors": gt,
                   "versions": out["versions"]}, f, indent=1)
        f.write("\n")


if __name__ == "__main__":
    main()
