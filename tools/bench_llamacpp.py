#!/usr/bin/env python3
"""Side-by-side CPU reference for BENCHMARKS.md: llama.cpp (through llama-cpp-python, built from
source by pip) on the same GGUF, the same prompt length, generated tokens and threads as
`kvbench bench`. Prints prefill tok/s and decode tok/s / ms per step, medians of --runs.

Setup (dev-only):  python3 -m venv /work/venv-llama && /work/venv-llama/bin/pip install llama-cpp-python
Usage:  /work/venv-llama/bin/python tools/bench_llamacpp.py --model models/SmolLM2-135M-Instruct.Q4_1.gguf \
            --prompt-tokens 512 --gen 32 --threads 2 --runs 3
"""
import argparse
import statistics
import time

from llama_cpp import Llama


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", required=True)
    ap.add_argument("--prompt-tokens", type=int, default=512)
    ap.add_argument("--gen", type=int, default=32)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--runs", type=int, default=3)
    a = ap.parse_args()
    n_ctx = max(2048, a.prompt_tokens + a.gen + 64)
    # n_batch = n_ctx: llama-cpp-python keeps one score row per batch slot
    llm = Llama(model_path=a.model, n_ctx=n_ctx, n_threads=a.threads, n_threads_batch=a.threads, n_batch=n_ctx,
                n_ubatch=min(512, a.prompt_tokens), logits_all=False, verbose=False)
    # the same deterministic prompt ids as kvbench bench without --prompt-file
    s, vocab, ids = 12345, llm.n_vocab(), []
    for _ in range(a.prompt_tokens):
        s = (s * 1103515245 + 12345) & 0xFFFFFFFF
        ids.append(100 + (s >> 8) % (vocab // 2))
    pre, dec = [], []
    for _ in range(a.runs):
        llm.reset()
        t0 = time.perf_counter()
        llm.eval(ids)
        pre.append(time.perf_counter() - t0)
        tok = int(max(range(vocab), key=lambda i: llm.scores[llm.n_tokens - 1][i]))
        t0 = time.perf_counter()
        for _ in range(a.gen - 1):
            llm.eval([tok])
            tok = int(llm.scores[llm.n_tokens - 1].argmax())
        dec.append((time.perf_counter() - t0) / (a.gen - 1))
    p, d = statistics.median(pre), statistics.median(dec)
    print(f"llama.cpp: prompt {a.prompt_tokens} tokens, {a.gen} generated, {a.threads} threads, {a.runs} runs (medians)")
    print(f"prefill: {a.prompt_tokens / p:.1f} tok/s ({p:.3f} s)")
    print(f"decode:  {1 / d:.2f} tok/s, {d * 1e3:.2f} ms/step")


if __name__ == "__main__":
    main()
