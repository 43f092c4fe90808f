#!/usr/bin/env python3
"""Side-by-side CPU reference for BENCHMARKS.md: llama.cpp on the same GGUF, the same prompt length,
generated tokens and threads as `kvbench bench`.

Two ways to run llama.cpp:
  --llama-bench PATH  llama.cpp's own llama-bench binary (pp = prompt processing of --prompt-tokens,
                      tg = generation of --gen tokens), run in --rounds rounds interleaved with
                      `kvbench bench` on the same file, prompt length and threads, so that both see the
                      same machine load. Prints each round, the medians and the ratios kvbench/llama.cpp
                      (prefill tok/s ratio, decode speed ratio = llama.cpp ms/step / kvbench ms/step).
                      Decode is compared at one context depth, --tg-depth (default 0): kvbench bench
                      runs again with a 1-token prompt (or --tg-depth tokens) for its decode figure.
                      --kvbench-args '--activations q8' runs kvbench with 8-bit activations, the scheme
                      llama.cpp's CPU decode itself uses (Q8_1/Q8_0 activations against Q4/Q8 blocks).
  (default)           llama-cpp-python (built from source by pip), this process alone.

Setup (dev-only):  python3 -m venv /work/venv-llama && /work/venv-llama/bin/pip install llama-cpp-python
Usage:  python3 tools/bench_llamacpp.py --model models/SmolLM2-135M-Instruct.Q4_1.gguf --prompt-tokens 512 \\
            --gen 32 --threads 2 --runs 3 --rounds 3 --llama-bench /path/to/llama.cpp/build/bin/llama-bench
        /work/venv-llama/bin/python tools/bench_llamacpp.py --model models/SmolLM2-135M-Instruct.Q4_1.gguf \\
            --prompt-tokens 512 --gen 32 --threads 2 --runs 3
"""
import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import time


def python_binding(a):
    from llama_cpp import Llama

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


def run_kvbench(a, prompt_tokens):
    cmd = [a.kvbench, "bench", "--model", a.model, "--prompt-tokens", str(prompt_tokens), "--gen", str(a.gen),
           "--threads", str(a.threads), "--runs", str(a.runs)] + a.kvbench_args.split()
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    pre = float(re.search(r"^prefill: ([0-9.]+) tok/s", out, re.M).group(1))
    ms = float(re.search(r"^decode: .*?([0-9.]+) ms/step", out, re.M).group(1))
    return pre, ms, " ".join(cmd)


def llama_bench_json(a, args):
    cmd = [a.llama_bench, "-m", a.model] + args + ["-t", str(a.threads), "-r", str(a.runs), "-o", "json"]
    cmd += a.llama_bench_args.split()
    return json.loads(subprocess.run(cmd, capture_output=True, text=True, check=True).stdout), " ".join(cmd)


def run_llama_bench(a):
    """pp and tg of the brief's command (-p P -n G); with --tg-depth D, tg again after a D-token context
    (-p 0 -n G -d D), as kvbench bench decodes after its prompt."""
    tests, cmd = llama_bench_json(a, ["-p", str(a.prompt_tokens), "-n", str(a.gen)])
    if a.tg_depth > 0:
        more, cmd2 = llama_bench_json(a, ["-p", "0", "-n", str(a.gen), "-d", str(a.tg_depth)])
        tests, cmd = [t for t in tests if t["n_gen"] == 0] + more, cmd + " ; " + cmd2
    # avg_ts is the mean over repetitions; the median of samples_ts matches kvbench's medians
    pp = [t for t in tests if t["n_prompt"] > 0 and t["n_gen"] == 0][0]
    tg = [t for t in tests if t["n_gen"] > 0 and t["n_prompt"] == 0][0]
    info = f"llama.cpp {pp.get('build_commit', '?')} (build {pp.get('build_number', '?')}), {pp.get('cpu_info', '')}"
    return statistics.median(pp["samples_ts"]), 1e3 / statistics.median(tg["samples_ts"]), cmd, info


def side_by_side(a):
    rows = []
    for r in range(a.rounds):
        kp, kd, kcmd = run_kvbench(a, a.prompt_tokens)
        # decode compared at the same context depth as llama.cpp's tg (-d; 0 = a 1-token prompt)
        if a.tg_depth != a.prompt_tokens:
            _, kd, kcmd2 = run_kvbench(a, max(a.tg_depth, 1))
            kcmd += " ; " + kcmd2
        lp, ld, lcmd, info = run_llama_bench(a)
        load = os.getloadavg()[0]
        rows.append((kp, kd, lp, ld))
        if r == 0:
            print(f"# {kcmd}\n# {lcmd}\n# {info}")
        print(f"round {r + 1} (load {load:.1f}): kvbench prefill {kp:.1f} tok/s, decode@d{a.tg_depth} {kd:.2f} ms/step | "
              f"llama.cpp pp{a.prompt_tokens} {lp:.1f} tok/s, tg{a.gen}@d{a.tg_depth} {ld:.2f} ms/step", flush=True)
    kp, kd, lp, ld = (statistics.median(c) for c in zip(*rows))
    print(f"median: kvbench prefill {kp:.1f} tok/s, decode {kd:.2f} ms/step | llama.cpp prefill {lp:.1f} tok/s, "
          f"decode {ld:.2f} ms/step")
    print(f"ratio kvbench/llama.cpp: prefill {kp / lp:.2f}x, decode speed {ld / kd:.2f}x (>1: kvbench faster)")
    per_round = [(r[0] / r[2], r[3] / r[1]) for r in rows]
    print("per-round ratios (prefill, decode): " + ", ".join(f"({p:.2f}, {d:.2f})" for p, d in per_round))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", required=True)
    ap.add_argument("--prompt-tokens", type=int, default=512)
    ap.add_argument("--gen", type=int, default=32)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--runs", type=int, default=3, help="repetitions inside each tool (medians)")
    ap.add_argument("--llama-bench", help="llama.cpp's llama-bench binary: side by side with kvbench bench")
    ap.add_argument("--llama-bench-args", default="", help="extra llama-bench options, e.g. '--repack 0'")
    ap.add_argument("--tg-depth", type=int, default=0,
                    help="decode compared after this many context tokens: llama.cpp tg with -d, kvbench bench with a "
                         "prompt of that length (1 for 0)")
    ap.add_argument("--kvbench", default="build/kvbench")
    ap.add_argument("--kvbench-args", default="",
                    help="extra kvbench bench options, e.g. '--activations q8' (8-bit activations, as llama.cpp's CPU decode)")
    ap.add_argument("--rounds", type=int, default=3, help="interleaved rounds of the two tools (--llama-bench)")
    a = ap.parse_args()
    if a.llama_bench:
        side_by_side(a)
    else:
        python_binding(a)


if __name__ == "__main__":
    sys.exit(main())
