#!/usr/bin/env python3
"""Random prediction files scored by `kvbench score --per-sample` and by the reference Python
(tools/longbench_ref_metrics.py, needs rouge==1.0.1 fuzzywuzzy==0.18.0 python-Levenshtein);
every per-sample line and the task score must be identical. Dev tool, not part of `make test`.
Usage: python3 tools/fuzz_score_vs_ref.py [N_PER_TASK] [SEED]
"""
import json
import os
import random
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import longbench_ref_metrics as ref  # noqa: E402

WORDS = ["the", "a", "an", "The", "AN", "cat", "Cat", "dog", "İstanbul", "ΣΑΣ", "straße", "STRASSE", "café",
         "naïve", "x_y", "3.5", "1,000", "U.S.", "Paragraph", "12", "١٢", "۳", "²", "①", "Other", "location",
         "Location", "City", "Country", "foo(a,", "b)", "return", "x", "=", "+", "1", "//", "#", "`", "don't",
         "it's", "\u00e9", "e\u0301", "ǅ", "ﬁ", "Ω", "…", "—", "\"quoted\"", "(paren)", "a.b", "...", "."]
SPACES = [" ", " ", " ", "  ", "\n", "\t", "\u00a0", "\u2028", "\u3000", "\x1c", "\x85", "\u200b", "\r\n", "\n\n"]
CLASSES = ["Abbreviation", "Animal", "Color", "Other location", "Location", "City", "Country",
           "Description of something", "Description of a person", "Definition of something"]


def text(rng, lo, hi):
    n = rng.randint(lo, hi)
    out = []
    for i in range(n):
        out.append(rng.choice(WORDS))
        out.append(rng.choice(SPACES))
    s = "".join(out)
    if rng.random() < 0.2:
        s = rng.choice(["\n", "\n\n", "", " "]) + s
    return s


def gen(task, rng, n):
    lines = []
    for _ in range(n):
        if task == "passage_retrieval_en":
            answers = ["Paragraph %d" % rng.randint(1, 30)]
            pred = rng.choice(["Paragraph %d" % rng.randint(1, 30), text(rng, 0, 6), "Paragraph 3, Paragraph 12"])
        elif task == "passage_count":
            answers = [str(rng.randint(1, 30))]
            pred = rng.choice([str(rng.randint(1, 30)), text(rng, 0, 6), "%d or %d" % (rng.randint(1, 9), rng.randint(1, 9))])
        elif task == "trec":
            answers = [rng.choice(CLASSES)]
            pred = " ".join(rng.sample(CLASSES, rng.randint(0, 3))) + rng.choice(["", "\nQuestion: x"])
        elif task in ("lcc", "repobench-p"):
            answers = [text(rng, 1, 8).replace("\n", " ")]
            pred = rng.choice([answers[0], text(rng, 0, 10), answers[0][:-1] + "x\n" + text(rng, 0, 3)])
        else:
            answers = [text(rng, 0, 12) for _ in range(rng.randint(1, 3))]
            pred = rng.choice([answers[0], text(rng, 0, 40), text(rng, 0, 8)])
        lines.append({"pred": pred, "answers": answers, "all_classes": CLASSES if task == "trec" else None,
                      "length": 100})
    return lines


def main():
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 200
    seed = int(sys.argv[2]) if len(sys.argv) > 2 else 1
    rng = random.Random(seed)
    kv = os.environ.get("KVBENCH", "build/kvbench")
    bad = 0
    for task in ["narrativeqa", "hotpotqa", "gov_report", "samsum", "trec", "triviaqa", "passage_count",
                 "passage_retrieval_en", "lcc", "repobench-p", "qmsum"]:
        lines = gen(task, rng, n)
        with tempfile.NamedTemporaryFile("w", suffix=".jsonl", delete=False, encoding="utf-8") as f:
            for d in lines:
                f.write(json.dumps(d) + "\n")
        got = subprocess.run([kv, "score", "--task", task, f.name, "--per-sample"], capture_output=True,
                             text=True).stdout.split("\n")
        total = 0.
        want = []
        for d in lines:
            s = ref.sample_score(task, d["pred"], d["answers"], lines[-1]["all_classes"])
            total += s
            want.append("%.17g" % s)
        want.append("%.2f" % round(100 * total / len(lines), 2))
        for i, w in enumerate(want):
            if i >= len(got) or got[i] != w:
                bad += 1
                if bad < 10:
                    print("MISMATCH", task, i, repr(got[i] if i < len(got) else None), w,
                          json.dumps(lines[i] if i < len(lines) else None)[:300])
        os.unlink(f.name)
    print("fuzz_score_vs_ref: %d mismatches" % bad)
    sys.exit(1 if bad else 0)


if __name__ == "__main__":
    main()
