#!/usr/bin/env python3
"""make_tiny: writes the tiny valid model that the bad-input and fault tests start from, in both
formats: tests/data/bad/tiny.gguf and tests/data/bad/tiny_hf/ (config.json, tokenizer.json,
tokenizer_config.json, model.safetensors). Llama shape dim 32, 1 layer, 4 heads, 2 KV heads,
MLP 64, the 264-token byte-level BPE of the fuzz seeds, tied embeddings, seeded random F16
weights. The tests derive their broken inputs (truncations, corrupt headers) from these.
Usage: python3 tests/data/bad/make_tiny.py   (the outputs are committed; ~80 KB)"""
import json
import os
import random
import struct
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "fuzz"))
import make_seeds as ms  # noqa: E402

DIM, HID, LAYERS, HEADS, KV, VOCAB = 32, 64, 1, 4, 2, 256 + len(ms.MERGED) + 1
rng = random.Random(8)


def f16s(n, scale=0.1):
    return b"".join(struct.pack("<e", rng.uniform(-scale, scale)) for _ in range(n))


def ones16(n):
    return struct.pack("<e", 1.0) * n


# (HF name, GGUF name, HF shape (rows, cols), bytes)
def tensors():
    hd = DIM // HEADS
    t = [("model.embed_tokens.weight", "token_embd.weight", [VOCAB, DIM], f16s(VOCAB * DIM)),
         ("model.norm.weight", "output_norm.weight", [DIM], ones16(DIM))]
    for l in range(LAYERS):
        for hf, gg, shape in [("input_layernorm", "attn_norm", [DIM]),
                              ("self_attn.q_proj", "attn_q", [HEADS * hd, DIM]),
                              ("self_attn.k_proj", "attn_k", [KV * hd, DIM]),
                              ("self_attn.v_proj", "attn_v", [KV * hd, DIM]),
                              ("self_attn.o_proj", "attn_output", [DIM, HEADS * hd]),
                              ("post_attention_layernorm", "ffn_norm", [DIM]),
                              ("mlp.gate_proj", "ffn_gate", [HID, DIM]),
                              ("mlp.up_proj", "ffn_up", [HID, DIM]),
                              ("mlp.down_proj", "ffn_down", [DIM, HID])]:
            n = 1
            for d in shape:
                n *= d
            data = ones16(n) if len(shape) == 1 else f16s(n)
            t.append(("model.layers.%d.%s.weight" % (l, hf), "blk.%d.%s.weight" % (l, gg), shape, data))
    return t


def main():
    ts = tensors()
    kvs = [k for k in ms.llama_kvs(VOCAB) if not k[0].startswith("llama.")] + [
        ("llama.embedding_length", 4, DIM), ("llama.feed_forward_length", 4, HID),
        ("llama.block_count", 4, LAYERS), ("llama.attention.head_count", 4, HEADS),
        ("llama.attention.head_count_kv", 4, KV), ("llama.context_length", 4, 4096),
        ("llama.rope.freq_base", 6, 10000.0), ("llama.attention.layer_norm_rms_epsilon", 6, 1e-5)]
    with open(os.path.join(HERE, "tiny.gguf"), "wb") as f:
        f.write(ms.gguf(kvs, [(gg, list(reversed(shape)), 1, data) for _, gg, shape, data in ts]))
    d = os.path.join(HERE, "tiny_hf")
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "model.safetensors"), "wb") as f:
        f.write(ms.safetensors([(hf, "F16", shape, data) for hf, _, shape, data in ts], meta={"format": "pt"}))
    cfg = {"architectures": ["LlamaForCausalLM"], "model_type": "llama", "hidden_size": DIM,
           "intermediate_size": HID, "num_hidden_layers": LAYERS, "num_attention_heads": HEADS,
           "num_key_value_heads": KV, "vocab_size": VOCAB, "max_position_embeddings": 4096,
           "rms_norm_eps": 1e-5, "rope_theta": 10000.0, "tie_word_embeddings": True,
           "bos_token_id": VOCAB - 1, "eos_token_id": VOCAB - 1, "torch_dtype": "float16"}
    with open(os.path.join(d, "config.json"), "w") as f:
        json.dump(cfg, f, indent=1)
    with open(os.path.join(d, "tokenizer.json"), "w") as f:
        f.write(ms.tok_json(False, False))
    with open(os.path.join(d, "tokenizer_config.json"), "w") as f:
        json.dump({"bos_token": "<X>", "eos_token": "<X>", "clean_up_tokenization_spaces": False}, f)


if __name__ == "__main__":
    main()
