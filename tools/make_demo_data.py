#!/usr/bin/env python3
"""make_demo_data: writes data/demo/<task>.jsonl, the small LongBench-format files the demo sweep
(sweeps/demo.yaml) and the harness tests run on.

- multi_news.jsonl: the 3 shortest REAL LongBench v1 multi_news samples from
  ../shared/data/longbench/multi_news.sample.jsonl (unchanged, so prompts stay short).
- every other task: 3 SYNTHETIC samples made here (ids "synthetic-<task>-<n>", dataset field
  "<task>", a "synthetic": true field), shaped like the task (QA over a short story, few-shot
  classification with all_classes, passage count/retrieval, code completion, summaries), a few
  hundred tokens each. They exercise the pipeline; their scores mean nothing about LongBench.

Deterministic: rerunning gives the same bytes. Usage: python3 tools/make_demo_data.py [SHARED_DIR]
"""
import json
import os
import random
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHARED = sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, "..", "shared")
OUT = os.path.join(ROOT, "data", "demo")
N = 3

NAMES = ["Alice", "Bruno", "Chen", "Dana", "Elif", "Farid", "Greta", "Hugo", "Ines", "Jonas"]
PLACES = ["Lisbon", "Oslo", "Kyoto", "Quito", "Nairobi", "Tallinn", "Hobart", "Porto"]
THINGS = ["a brass compass", "a red notebook", "an old violin", "a silver key", "a wooden boat"]
FILLER = ("The morning was quiet and the streets were still wet from the rain. People walked to work, "
          "shops opened their shutters, and the smell of bread drifted from the bakery on the corner. ")


def story(rng, k):
    who, where, what = rng.choice(NAMES), rng.choice(PLACES), rng.choice(THINGS)
    other = rng.choice([n for n in NAMES if n != who])
    text = (FILLER * 2 + f"{who} travelled to {where} to find {what}. " + FILLER +
            f"In {where}, {who} met {other}, who had kept {what} for many years. " + FILLER +
            f"At the end, {other} gave {what} to {who}, and {who} returned home by train. " + FILLER)
    return text, who, where, what, other


def qa(task, rng, k):
    text, who, where, what, other = story(rng, k)
    q = rng.choice([(f"Where did {who} travel to?", where), (f"Who kept {what} for many years?", other),
                    (f"What was {who} looking for?", what)])
    return {"context": text, "input": q[0], "answers": [q[1]]}


def multi_doc(task, rng, k):
    docs, facts = [], []
    for p in range(3):
        text, who, where, what, other = story(rng, k * 10 + p)
        docs.append(f"Passage {p + 1}:\n{text}")
        facts.append((who, where))
    who, where = facts[1]
    return {"context": "\n".join(docs), "input": f"Which city did {who} visit in the second passage?",
            "answers": [where]}


def summary(task, rng, k):
    text, who, where, what, other = story(rng, k)
    return {"context": text * 2, "input": "" if task == "gov_report" else "Summarize the meeting.",
            "answers": [f"{who} went to {where}, met {other} and came back with {what}."]}


def trec(task, rng, k):
    classes = ["Location", "Person", "Number", "Description", "Entity", "Abbreviation"]
    shots = [("Where is the Eiffel Tower?", "Location"), ("Who wrote Hamlet?", "Person"),
             ("How many legs does a spider have?", "Number"), ("What does NASA stand for?", "Abbreviation"),
             ("Why is the sky blue?", "Description"), ("What animal is the largest mammal?", "Entity")]
    ctx = "\n".join(f"Question: {q}\nType: {t}" for q, t in shots * 4)
    q, t = rng.choice([("Where is Mount Kenya?", "Location"), ("Who painted the Mona Lisa?", "Person"),
                       ("How many days are in a leap year?", "Number")])
    return {"context": ctx, "input": q, "answers": [t], "all_classes": classes}


def triviaqa(task, rng, k):
    shots = "\n\n".join(f"Passage: {FILLER}\nQuestion: What is the capital of {c}?\nAnswer: {a}"
                        for c, a in [("France", "Paris"), ("Japan", "Tokyo"), ("Peru", "Lima")])
    c, a = rng.choice([("Norway", "Oslo"), ("Kenya", "Nairobi"), ("Estonia", "Tallinn")])
    return {"context": shots, "input": f"Passage: {FILLER}\nQuestion: What is the capital of {c}?\nAnswer:",
            "answers": [a]}


def samsum(task, rng, k):
    a, b = rng.sample(NAMES, 2)
    place = rng.choice(PLACES)
    dia = "\n".join([f"{a}: are we still meeting in {place} tomorrow?", f"{b}: yes, at noon by the station.",
                     f"{a}: great, I will bring the tickets.", f"{b}: see you there!"])
    shots = f"Dialogue: {b}: hi\n{a}: hello\nSummary: {a} and {b} greet each other.\n\n" * 3
    return {"context": shots, "input": f"Dialogue: {dia}\nSummary: ",
            "answers": [f"{a} and {b} will meet in {place} tomorrow at noon; {a} brings the tickets."]}


def passage_count(task, rng, k):
    uniq = [story(rng, k * 7 + i)[0][:300] for i in range(3 + k % 2)]
    paras = uniq + [uniq[0]] + ([uniq[1]] if k % 2 else [])
    rng.shuffle(paras)
    ctx = "\n\n".join(f"Paragraph {i + 1}: {p}" for i, p in enumerate(paras))
    return {"context": ctx, "input": "", "answers": [str(len(uniq))]}


def passage_retrieval(task, rng, k):
    paras = []
    for i in range(4):
        text, who, where, what, other = story(rng, k * 5 + i)
        paras.append((f"{who} searched {where} for {what}. " + text[:250], who, where))
    j = rng.randrange(4)
    ctx = "\n\n".join(f"Paragraph {i + 1}: {p[0]}" for i, p in enumerate(paras))
    return {"context": ctx, "input": f"{paras[j][1]} looked for something in {paras[j][2]}.",
            "answers": [f"Paragraph {j + 1}"]}


def code(task, rng, k):
    n = rng.choice(["total", "count", "acc"])
    lines = ["def add(a, b):", "    return a + b", "", "def scale(xs, f):", "    out = []",
             "    for x in xs:", "        out.append(x * f)", "    return out", "", "def summed(xs):",
             f"    {n} = 0", "    for x in xs:", f"        {n} += x"]
    ctx = "\n".join(lines) + "\n"
    if task == "repobench-p":
        ctx = "# repo: demo/util.py\n" + ctx
        return {"context": ctx, "input": "", "answers": [f"    return {n}"]}
    return {"context": ctx, "input": "", "answers": [f"    return {n}"]}


MAKERS = {"narrativeqa": qa, "qasper": qa, "multifieldqa_en": qa, "hotpotqa": multi_doc, "2wikimqa": multi_doc,
          "musique": multi_doc, "gov_report": summary, "qmsum": summary, "trec": trec, "triviaqa": triviaqa,
          "samsum": samsum, "passage_count": passage_count, "passage_retrieval_en": passage_retrieval,
          "lcc": code, "repobench-p": code}


def main():
    os.makedirs(OUT, exist_ok=True)
    tasks = [t["name"] for t in json.load(open(os.path.join(SHARED, "data", "longbench", "tasks.json")))["tasks"]]
    for task in tasks:
        rows = []
        if task == "multi_news":
            real = [json.loads(l) for l in open(os.path.join(SHARED, "data", "longbench", "multi_news.sample.jsonl"))]
            keep = sorted(range(len(real)), key=lambda i: (real[i]["length"], i))[:N]
            rows = [real[i] for i in sorted(keep)]
        else:
            rng = random.Random(f"kvbench-demo-{task}")
            for k in range(N):
                d = MAKERS[task](task, rng, k)
                rows.append({"input": d["input"], "context": d["context"], "answers": d["answers"],
                             "length": len((d["context"] + " " + d["input"]).split()), "dataset": task,
                             "language": "en", "all_classes": d.get("all_classes"),
                             "_id": f"synthetic-{task}-{k}", "synthetic": True})
        with open(os.path.join(OUT, f"{task}.jsonl"), "w") as f:
            for r in rows:
                f.write(json.dumps(r, ensure_ascii=False) + "\n")
    with open(os.path.join(OUT, "README.md"), "w") as f:
        f.write("# data/demo\n\nSmall LongBench-format files for `sweeps/demo.yaml` and the harness tests, written by\n"
                "`tools/make_demo_data.py`. `multi_news.jsonl` holds 3 REAL LongBench v1 multi_news samples (the\n"
                "shortest of ../shared/data/longbench/multi_news.sample.jsonl). Every other file is SYNTHETIC\n"
                "(ids `synthetic-<task>-<n>`, field `\"synthetic\": true`): task-shaped toy samples that exercise\n"
                "the pipeline. Scores on them say nothing about LongBench.\n")


if __name__ == "__main__":
    main()
