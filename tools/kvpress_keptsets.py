#!/usr/bin/env python3
"""kvpress_keptsets: the kept positions kvpress itself chooses, per layer and KV head, for the presses
kvbench re-implements (issue 17), written as a small golden for tests/test_kvpress_golden.c.

Dev-only (needs torch, transformers, gguf and kvpress; CPU is enough):

    python3 -m venv /tmp/kvp && /tmp/kvp/bin/pip install kvpress gguf
    /tmp/kvp/bin/python tools/kvpress_keptsets.py \
        --gguf models/SmolLM2-135M-Instruct.Q4_1.gguf --kvbench build/kvbench \
        --data /work/shared/data/longbench/multi_news.sample.jsonl --samples 0,1 \
        --max-prompt-tokens 300 --ratios 0.5,0.75 --layers 0,1,2,15,29 \
        --out tests/data/kvpress_keptsets.json

The prompt ids come from `kvbench prompts` (kvbench's tokenizer, the task template and the middle
truncation), so both sides see the same ids; the model is the same GGUF dequantised by transformers'
GGUF loader, run in fp32 with SDPA attention. For each press and compression ratio the script runs
one prefill under the press and records what kvpress keeps:
  ScorerPress (knorm, keydiff, tova, expected_attention): the press's own scores, then
      scores.topk(n_kept) exactly as ScorerPress.compress does (n_kept = max(1, int(L*(1-ratio))));
  AdaKVPress(SnapKVPress()): the complement of module.masked_key_indices it sets.
The random press is not compared: kvpress draws torch.rand, kvbench a stateless hash.
"""
import argparse
import json
import os
import subprocess
import sys


def prompt_ids(args):
    out = subprocess.run([args.kvbench, "prompts", "--task", "multi_news", "--data", args.data, "--tokenizer",
                          args.gguf, "--max-prompt-tokens", str(args.max_prompt_tokens)],
                         check=True, capture_output=True, text=True).stdout
    rows = [json.loads(line) for line in out.splitlines() if line.strip()]
    want = [int(s) for s in args.samples.split(",")]
    return [r for r in rows if r["index"] in want]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--gguf", required=True)
    ap.add_argument("--kvbench", default="build/kvbench")
    ap.add_argument("--data", required=True)
    ap.add_argument("--samples", default="0,1")
    ap.add_argument("--max-prompt-tokens", type=int, default=300)
    ap.add_argument("--ratios", default="0.5,0.75")
    ap.add_argument("--layers", default="0,1,2,15,29")
    ap.add_argument("--out", required=True)
    args = ap.parse_args()

    import torch
    import transformers
    import kvpress
    from transformers import AutoModelForCausalLM, DynamicCache
    from kvpress import AdaKVPress, ExpectedAttentionPress, KeyDiffPress, KnormPress, ScorerPress, SnapKVPress, TOVAPress
    from kvpress.utils import compute_n_kept

    torch.set_grad_enabled(False)
    model = AutoModelForCausalLM.from_pretrained(os.path.dirname(os.path.abspath(args.gguf)),
                                                 gguf_file=os.path.basename(args.gguf), torch_dtype=torch.float32,
                                                 attn_implementation="sdpa")
    model.eval()
    layers = [int(x) for x in args.layers.split(",")]
    ratios = [float(x) for x in args.ratios.split(",")]
    presses = {
        "knorm": lambda r: KnormPress(compression_ratio=r),
        "keydiff": lambda r: KeyDiffPress(compression_ratio=r),
        "tova": lambda r: TOVAPress(compression_ratio=r),
        "expected_attention": lambda r: ExpectedAttentionPress(compression_ratio=r),
        "adakv": lambda r: AdaKVPress(SnapKVPress(compression_ratio=r)),
    }
    prompts = prompt_ids(args)
    import importlib.metadata
    golden = {"tool": "tools/kvpress_keptsets.py", "kvpress": importlib.metadata.version("kvpress"), "torch": torch.__version__, "transformers": transformers.__version__,
              "model": os.path.basename(args.gguf), "data": os.path.basename(args.data),
              "max_prompt_tokens": args.max_prompt_tokens, "layers": layers,
              "prompts": [{"index": p["index"], "ids": p["ids"]} for p in prompts], "cases": []}
    for pi, p in enumerate(prompts):
        ids = torch.tensor([p["ids"]])
        L = ids.shape[1]
        for name, make in presses.items():
            for r in ratios:
                press = make(r)
                kept = {}
                if isinstance(press, AdaKVPress):
                    orig = press.compress

                    def compress(module, *a, _orig=orig, _kept=kept, **kw):
                        out = _orig(module, *a, **kw)
                        _, hi, si = module.masked_key_indices
                        hkv = module.config.num_key_value_heads
                        rows = []
                        for g in range(hkv):
                            pruned = set(si[hi == g].tolist())
                            rows.append([j for j in range(L) if j not in pruned])
                        _kept[module.layer_idx] = rows
                        return out
                    press.compress = compress
                else:
                    orig = press.score

                    def score(module, *a, _orig=orig, _kept=kept, **kw):
                        s = _orig(module, *a, **kw)
                        n_kept = compute_n_kept(s.shape[-1], press.compression_ratio)
                        idx = s.topk(n_kept, dim=-1).indices[0]
                        _kept[module.layer_idx] = [sorted(row.tolist()) for row in idx]
                        return s
                    press.score = score
                with press(model):
                    model(input_ids=ids, past_key_values=DynamicCache(), use_cache=True)
                golden["cases"].append({"prompt": pi, "method": name, "ratio": r, "L": L,
                                        "kept": [kept[l] for l in layers]})
                print(f"prompt {p['index']} (L {L}) {name} ratio {r}: layer {layers[0]} head 0 keeps "
                      f"{len(kept[layers[0]][0])}", file=sys.stderr)
    with open(args.out, "w") as f:
        json.dump(golden, f, separators=(",", ":"))
        f.write("\n")


if __name__ == "__main__":
    main()
