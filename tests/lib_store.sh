# lib_store.sh: helpers shared by the store reliability tests (t_damaged, t_diskfull, t_readers,
# t_deadline, t_faults; issue 19), sourced after tests/lib.sh. The fake-executor sweep they all use: 16 tasks
# x 2 samples of data/demo, FullKV/SnapKV/H2O at budget 128, the tiny test model: 32 items, 96
# results.
N_ITEMS=32
# tiny_sweep FILE NAME: write that sweep to FILE.
tiny_sweep() {
    cat >"$1" <<YAML
name: $2
data: data/demo
samples: 2
budgets: [128]
methods: [fullkv, snapkv, h2o]
models:
  - name: tiny
    path: tests/data/bad/tiny.gguf
YAML
}
items() { find "$1/items" -name '*.h5' 2>/dev/null | wc -l; }
samples_csv() { "$KVBENCH" show "$1" --samples --format csv | sort; }
# same_as_clean WHAT CLEAN DIR: DIR's tables.md, scores.csv and per-sample predictions (written to
# DIR.csv) equal those of the clean store CLEAN (whose sorted samples are in CLEAN.csv).
same_as_clean() {
    check "$1: identical tables.md" cmp -s "$2/tables.md" "$3/tables.md"
    check "$1: identical scores.csv" cmp -s "$2/scores.csv" "$3/scores.csv"
    samples_csv "$3" >"$3.csv"
    check "$1: identical predictions and per-sample scores" cmp -s "$2.csv" "$3.csv"
}
