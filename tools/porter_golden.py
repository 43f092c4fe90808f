#!/usr/bin/env python3
"""Golden stems and rouge-1 scores for kvbench's needle score (harness/longbench/porter_stem.c,
needle_score.c), from the real packages: rouge_score's tokenizer with use_stemmer=True, i.e.
nltk.stem.porter.PorterStemmer() in its default NLTK_EXTENSIONS mode.

Writes
  tests/data/porter_golden.tsv        word <TAB> stem, one a line: PorterStemmer().stem(word) for
                                      every distinct rouge token of data/demo/*.jsonl and
                                      tests/data/longbench/multi_news.small.jsonl, a list of tricky
                                      suffix cases, and seeded synthetic stems x every suffix the
                                      rules name;
  tests/data/needle_rouge_golden.tsv  needle <TAB> prediction <TAB> repr(F): rouge_score 0.1.2's
                                      RougeScorer(['rouge1'], use_stemmer=True)
                                      .score(needle, prediction)['rouge1'].fmeasure.
The first line of each file is a '#' comment naming the package versions.

usage: python tools/porter_golden.py     (needs: pip install rouge-score nltk)
"""
import glob
import json
import os
import random
from importlib.metadata import version

from nltk.stem import porter
from rouge_score import rouge_scorer, tokenize, tokenizers

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
NEEDLE = ("\nThe best thing to do in San Francisco is eat a sandwich and sit in Dolores Park "
          "on a sunny day.\n")

TRICKY = """caresses ponies ties caress cats feed agreed plastered bled motoring sing conflated
troubled sized hopping tanned falling hissing fizzed failing filing happy sky relational
conditional rational valenci hesitanci digitizer conformabli radicalli differentli vileli
analogousli vietnamization predication operator feudalism decisiveness hopefulness callousness
formaliti sensitiviti sensibiliti triplicate formative formalize electriciti electrical hopeful
goodness revival allowance inference airliner gyroscopic adjustable defensible irritant
replacement adjustment dependent adoption homologou communism activate angulariti homologous
effective bowdlerize probate rate cease controll roll generalizations oscillators skies dying
lying tying news innings inning outings outing cannings canning howe proceed exceed succeed
flies dies spied died cried enjoy enjoyment spy fly try played playing sandwiches parks eating
sitting sunny days francisco dolores best thing things doing done does yyyy syzygy yelled
yellowy yayy ayyy eyed bye buyer archaeology geology theology ecology biology hopefulli
usefulli fully totally finally really actually logically beautifully emotionally traditionally
nationality nationalities generously gently ably nobly feebly visibly possibly responsibly
abilities capabilities agreeable agreement agreeing disagreed needed seeded bleed breed speed
hoped hoping hopped hopping filed filled filing filling fizz fizzing buzzed buzzing tolling
tolled hissed missed massed messed mossed fussed prizing prized sizing realized realizing
organizational operational optional additional conventional sensational rationally
relationship relationships controlled controlling patrolled patrolling rebelled rebellious
catalogue catalogued analogue analogies apologies apologise apologize apologized apology
ization izations 1990s 2000s 3rd 21st covid19 mp3s abc123ing h2o zzzing bbed eed ied ies sses
ing ed yed ying bying cying dying2 aalli balli calli ealli oalli falli fulli logi ologi
""".split()

# every suffix the rules test, to append to synthetic stems
SUFFIXES = """s ss sses ies ied eed ed ing at bl iz y ational tional enci anci izer bli abli alli entli
eli ousli ization ation ator alism iveness fulness ousness aliti iviti biliti fulli logi icate
ative alize iciti ical ful ness al ance ence er ic able ible ant ement ment ent sion tion ion ou
ism ate iti ous ive ize e ll atedly ations alities fulnesses iveness ingly edly yed ying ies""".split()


def rouge_words(text):
    return tokenize.tokenize(text, None)


def corpus_words():
    words = set()
    paths = sorted(glob.glob(os.path.join(ROOT, "data", "demo", "*.jsonl")))
    paths.append(os.path.join(ROOT, "tests", "data", "longbench", "multi_news.small.jsonl"))
    for path in paths:
        with open(path, encoding="utf-8") as f:
            for line in f:
                rec = json.loads(line)
                for key in ("context", "input", "answers"):
                    val = rec.get(key) or ""
                    words.update(rouge_words(" ".join(val) if isinstance(val, list) else val))
    return words


def synthetic_words(rng, n_stems):
    letters_c, letters_v = "bcdfghjklmnprstvwxyz", "aeiouy"
    words = set()
    for _ in range(n_stems):
        k = rng.randint(1, 6)
        stem = "".join(rng.choice(letters_c if rng.random() < 0.55 else letters_v) for _ in range(k))
        for suf in rng.sample(SUFFIXES, 12):
            words.add(stem + suf)
    return words


def sentences():
    out = []
    for path in sorted(glob.glob(os.path.join(ROOT, "data", "demo", "*.jsonl"))):
        with open(path, encoding="utf-8") as f:
            for line in f:
                ctx = json.loads(line).get("context") or ""
                out.extend(s.strip() for s in ctx.replace("\n", " ").split(".") if len(s.split()) >= 3)
    return out


def predictions(rng):
    fixed = [NEEDLE.strip(), "eating sandwiches in the parks", "eat a sandwich", "sandwich sandwich",
             "in in in", "The best things to do in San Francisco are eating sandwiches and sitting in Dolores "
             "Parks on sunny days.", "Sitting in the park on a sunny day, eating a sandwich.",
             "the best thing is to eat sandwiches", "San Francisco's best: sandwiches, parks, sunshine!",
             "Dolores", "The best thing to do in San Francisco is to eat a sandwich and sit in Dolores Park "
             "on a sunny day.", "Quantum chromodynamics explains quarks.", "sunnier days, sunniest parks",
             "best bests bested besting", "doing does did done", "sits sitting sat seated", "café sandwich"]
    needle_words = rouge_words(NEEDLE)
    inflect = ["s", "es", "ing", "ed", "ly", "ness", "er", ""]
    for _ in range(40):
        ws = rng.sample(needle_words, rng.randint(1, len(needle_words)))
        fixed.append(" ".join(w + rng.choice(inflect) for w in ws))
    return fixed


def main():
    rng = random.Random(20261130)
    stemmer = porter.PorterStemmer()
    assert stemmer.mode == porter.PorterStemmer.NLTK_EXTENSIONS
    assert isinstance(tokenizers.DefaultTokenizer(True)._stemmer, porter.PorterStemmer)
    versions = "rouge-score %s, nltk %s" % (version("rouge-score"), version("nltk"))
    words = corpus_words() | set(TRICKY) | synthetic_words(rng, 400)
    with open(os.path.join(ROOT, "tests", "data", "porter_golden.tsv"), "w", encoding="utf-8") as f:
        f.write("# word\tnltk PorterStemmer().stem(word) (NLTK_EXTENSIONS), %s\n" % versions)
        for w in sorted(words):
            f.write("%s\t%s\n" % (w, stemmer.stem(w)))
    scorer = rouge_scorer.RougeScorer(["rouge1"], use_stemmer=True)
    pairs = [(NEEDLE, p) for p in predictions(rng)]
    sents = sentences()
    for _ in range(60):
        target, pred = rng.choice(sents), rng.choice(sents)
        if rng.random() < 0.5:  # a prediction that shares words: the target with words dropped
            pred = " ".join(w for w in target.split() if rng.random() < 0.7)
        pairs.append((target, pred))
    with open(os.path.join(ROOT, "tests", "data", "needle_rouge_golden.tsv"), "w", encoding="utf-8") as f:
        f.write("# target\tprediction\tRougeScorer(['rouge1'], use_stemmer=True) F, %s\n" % versions)
        for t, p in pairs:
            assert "\t" not in t + p and "\\" not in t + p
            f.write("%s\t%s\t%r\n" % (t.replace("\n", "\\n"), p.replace("\n", "\\n"), scorer.score(t, p)["rouge1"].fmeasure))
    print("%d words, %d score pairs (%s)" % (len(words), len(pairs), versions))


if __name__ == "__main__":
    main()
