#!/usr/bin/env python3
"""make_seeds: writes the small seed corpora of the fuzz targets into tests/fuzz/corpus/<name>/.
Every seed is a valid (or deliberately borderline) input so that libFuzzer starts from the deep
paths of each loader instead of the first magic-number check. Standard library only.
Usage: python3 tests/fuzz/make_seeds.py   (rewrites the corpus; the files are committed)"""
import json
import os
import struct

HERE = os.path.dirname(os.path.abspath(__file__))


def out(name, fname, data):
    d = os.path.join(HERE, "corpus", name)
    os.makedirs(d, exist_ok=True)
    if isinstance(data, str):
        data = data.encode()
    with open(os.path.join(d, fname), "wb") as f:
        f.write(data)


# ---- byte-level BPE spelling (GPT-2 bytes_to_unicode) ----
def bytes_to_unicode():
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return {b: chr(c) for b, c in zip(bs, cs)}


B2U = bytes_to_unicode()
BYTE_TOKENS = [B2U[b] for b in range(256)]
MERGED = ["ab", "abc", "\u0120a", "he", "hel", "lo", "hello"]
MERGES = ["a b", "ab c", "\u0120 a", "h e", "he l", "l o", "hel lo"]


# ---- GGUF ----
def gstr(s):
    b = s.encode()
    return struct.pack("<Q", len(b)) + b


def gkv(key, typ, val):
    body = gstr(key) + struct.pack("<I", typ)
    if typ == 8:
        body += gstr(val)
    elif typ == 4:
        body += struct.pack("<I", val)
    elif typ == 5:
        body += struct.pack("<i", val)
    elif typ == 6:
        body += struct.pack("<f", val)
    elif typ == 7:
        body += struct.pack("<B", val)
    elif typ == 9:
        et, items = val
        body += struct.pack("<IQ", et, len(items))
        for it in items:
            body += gstr(it) if et == 8 else struct.pack("<i", it)
    return body


def f16(x):
    return struct.pack("<e", x)


def gguf(kvs, tensors, version=3, align=32):
    """tensors: (name, dims, ggml_type, raw bytes)"""
    head = b"GGUF" + struct.pack("<IQQ", version, len(tensors), len(kvs))
    for k in kvs:
        head += gkv(*k)
    off = 0
    data = b""
    for name, dims, typ, raw in tensors:
        head += gstr(name) + struct.pack("<I", len(dims)) + b"".join(struct.pack("<Q", d) for d in dims)
        head += struct.pack("<IQ", typ, off)
        pad = (-len(raw)) % align
        data += raw + b"\0" * pad
        off += len(raw) + pad
    head += b"\0" * ((-len(head)) % align)
    return head + data


def llama_kvs(n_vocab):
    return [
        ("general.architecture", 8, "llama"), ("general.name", 8, "fuzz-tiny"),
        ("llama.embedding_length", 4, 32), ("llama.feed_forward_length", 4, 64),
        ("llama.block_count", 4, 1), ("llama.attention.head_count", 4, 4),
        ("llama.attention.head_count_kv", 4, 2), ("llama.context_length", 4, 128),
        ("llama.rope.freq_base", 6, 10000.0), ("llama.attention.layer_norm_rms_epsilon", 6, 1e-5),
        ("tokenizer.ggml.model", 8, "gpt2"), ("tokenizer.ggml.pre", 8, "smollm"),
        ("tokenizer.ggml.tokens", 9, (8, BYTE_TOKENS + MERGED + ["<|im_start|>"])),
        ("tokenizer.ggml.token_type", 9, (5, [1] * (256 + len(MERGED)) + [3])),
        ("tokenizer.ggml.merges", 9, (8, MERGES)),
        ("tokenizer.ggml.bos_token_id", 4, n_vocab - 1), ("tokenizer.ggml.eos_token_id", 4, n_vocab - 1),
        ("tokenizer.chat_template", 8, "{% for m in messages %}{{ m.content }}{% endfor %}"),
    ]


def quant_tensors():
    f32 = struct.pack("<32f", *[i / 8 - 2 for i in range(32)])
    q8 = f16(0.5) + bytes(range(0, 64, 2))
    q40 = f16(0.25) + bytes(range(16))
    q41 = f16(0.25) + f16(-1.0) + bytes(range(16, 32))
    bf = b"".join(struct.pack("<H", struct.unpack("<I", struct.pack("<f", i / 4))[0] >> 16) for i in range(32))
    f16s = b"".join(f16(i / 16) for i in range(32))
    return [("a.f32", [32], 0, f32), ("b.f16", [32], 1, f16s), ("c.q4_0", [32], 2, q40),
            ("d.q4_1", [32], 3, q41), ("e.q8_0", [32], 8, q8), ("f.bf16", [16, 2], 30, bf)]


def gguf_seeds():
    n_vocab = 256 + len(MERGED) + 1
    out("gguf", "tiny_llama", gguf(llama_kvs(n_vocab), quant_tensors()))
    out("gguf", "types_only", gguf([("general.alignment", 4, 64)], quant_tensors(), align=64))
    out("gguf", "v2_empty", gguf([("general.architecture", 8, "llama")], [], version=2))
    # a 2-D tensor spanning several Q8_0 blocks per row
    q8rows = (f16(1.0) + bytes(32)) * 4
    out("gguf", "q8_rows", gguf([], [("w", [64, 2], 8, q8rows)]))


# ---- safetensors ----
def safetensors(tensors, meta=None):
    hdr = {}
    data = b""
    for name, dtype, shape, raw in tensors:
        hdr[name] = {"dtype": dtype, "shape": shape, "data_offsets": [len(data), len(data) + len(raw)]}
        data += raw
    if meta is not None:
        hdr["__metadata__"] = meta
    h = json.dumps(hdr).encode()
    h += b" " * ((-len(h)) % 8)
    return struct.pack("<Q", len(h)) + h + data


def st_seeds():
    f32 = struct.pack("<6f", 1, 2, 3, 4, 5, 6)
    f16s = b"".join(f16(x) for x in (0.5, -1, 2, 65504))
    bf = b"".join(struct.pack("<H", struct.unpack("<I", struct.pack("<f", x))[0] >> 16) for x in (1, -2, 3.5, 0))
    out("safetensors", "three_dtypes", safetensors(
        [("model.embed_tokens.weight", "F32", [2, 3], f32), ("h", "F16", [4], f16s), ("b", "BF16", [2, 2], bf)],
        meta={"format": "pt"}))
    out("safetensors", "empty_tensor", safetensors([("z", "F32", [0, 4], b""), ("s", "F32", [], struct.pack("<f", 7))]))
    out("safetensors_index", "index", json.dumps(
        {"metadata": {"total_size": 16}, "weight_map": {"w": "a.safetensors"}}))
    out("safetensors_index", "missing_shard", json.dumps(
        {"metadata": {}, "weight_map": {"w": "a.safetensors", "v": "b.safetensors"}}))


# ---- tokenizer.json ----
def tok_json(ignore_merges, pair_merges):
    vocab = {s: i for i, s in enumerate(BYTE_TOKENS)}
    for i, s in enumerate(MERGED):
        vocab[s] = 256 + i
    merges = [m.split(" ") for m in MERGES] if pair_merges else MERGES
    added = [
        {"id": 256 + len(MERGED), "content": "<X>", "special": True, "lstrip": False, "rstrip": False,
         "normalized": False, "single_word": False},
        {"id": 257 + len(MERGED), "content": "[L]", "special": False, "lstrip": True, "rstrip": False,
         "normalized": True, "single_word": False},
    ]
    pre = {"type": "Sequence", "pretokenizers": [
        {"type": "Split", "pattern": {"Regex": "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"},
         "behavior": "Isolated", "invert": False},
        {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": False}]} \
        if ignore_merges else {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": True}
    return json.dumps({"version": "1.0", "added_tokens": added, "normalizer": None, "pre_tokenizer": pre,
                       "post_processor": None,
                       "decoder": {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": True,
                                   "use_regex": True},
                       "model": {"type": "BPE", "dropout": None, "unk_token": None, "ignore_merges": ignore_merges,
                                 "vocab": vocab, "merges": merges}}, ensure_ascii=False)


def tok_seeds():
    out("tokenizer", "bytelevel", tok_json(False, False))
    out("tokenizer", "llama3_split_pairs", tok_json(True, True))


# ---- LongBench JSONL ----
def jsonl_seeds():
    def line(i, **kw):
        d = {"input": "What is %d?" % i, "context": "Passage %d: a b c.\n" % i, "answers": ["a", "b"],
             "length": 12, "dataset": "multi_news", "language": "en", "all_classes": None, "_id": "id%d" % i}
        d.update(kw)
        return json.dumps(d, ensure_ascii=False)
    out("jsonl", "three", "\n".join([line(0), line(1, all_classes=["x", "y"]), "", line(2, context="é{context}")]) + "\n")
    out("jsonl", "no_final_newline", line(3, answers=[]))
    out("jsonl", "bad_second_line", line(4) + "\n{\"input\": 1}\n")


# ---- sweep YAML ----
def sweep_seeds():
    out("sweep", "demo", open(os.path.join(HERE, "..", "..", "sweeps", "demo.yaml")).read())
    out("sweep", "knobs", """name: fz
output: results/fz
preset: reference-head
data: data/demo
tasks: [trec, lcc, multi_news]
samples: [0, "2-3", 5]
budgets: [128, 512]
methods:
  - fullkv
  - {name: snapkv, window: 8, kernel: 7}
  - name: streamingllm
    sinks: 4
models:
  - name: m
    path: ${KVBENCH_DEMO_MODEL:-models/SmolLM2-135M-Instruct.Q4_1.gguf}
    family: llama3
    tensor_parallel: 1
    stop_ids: [1, 2]
    dtype: fp32
engine: {backend: cpu, threads: 1, max_new_tokens: 4, samples_per_item: 2, fake: true}
""")
    out("sweep", "anchors", """name: &n snapkv
data: data/demo
tasks: all
samples: 2
budgets: [64]
methods: [*n]
models: [{name: x, path: y}]
""")


if __name__ == "__main__":
    gguf_seeds()
    st_seeds()
    tok_seeds()
    jsonl_seeds()
    sweep_seeds()
