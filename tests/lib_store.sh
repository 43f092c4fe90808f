# lib_store.sh: helpers shared by the store reliability tests (t_damaged, t_diskfull, t_readers,
# t_deadline; issue 19), sourced after tests/lib.sh. The fake-executor sweep they all use: 16 tasks
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
