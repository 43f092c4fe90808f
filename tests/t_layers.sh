#!/usr/bin/env bash
# t_layers: the layered build of issue 14 (util -> kernels -> engine -> harness/longbench ->
# harness/sweep -> harness/cli) is enforced, not just described. The repository passes both rules
# of tools/check-layers.sh, and each rule catches a violation planted in a scratch copy: an upward
# #include, and an upward call (an object in the kernels library calling a sweep function), which
# must fail to link. The link case uses the libraries `make` built (BUILD) and the Makefile's link
# flags (KV_LDLIBS/KV_CC from `make test`, else `make -s print-ldlibs`).
set -u
cd "$(dirname "$0")/.."
. tests/lib.sh
BUILD=${BUILD:-build}
T=tests/tmp/t_layers
rm -rf "$T"; mkdir -p "$T"

check "the repository's includes point down only" bash tools/check-layers.sh

# An upward include in a scratch tree: kernels/cpu including an engine header.
mkdir -p "$T/tree/kernels/cpu" "$T/tree/engine" "$T/tree/util"
printf '#include "util/util.h"\n' > "$T/tree/engine/ok.c"
printf '#include "engine/engine.h"\nint x;\n' > "$T/tree/kernels/cpu/up.c"
expect_fail "an upward include is rejected, naming the file and line" \
    'kernels/cpu/up.c:1 includes "engine/engine.h" from a layer above' bash tools/check-layers.sh "$T/tree"
printf '#include "harness/nowhere.h"\n' > "$T/tree/util/stray.c"
rm "$T/tree/kernels/cpu/up.c"
expect_fail "an include outside every layer is rejected" 'in no layer' bash tools/check-layers.sh "$T/tree"

# The bottom layer's utilities are defined once (issue 14: FNV-1a and the fp16 decode each had three
# copies): the FNV prime and the half exponent rebias appear in util/ alone.
one_def() { # one_def "regex" FILE: the only source under the layers that matches is FILE
    [ "$(grep -rlE --include='*.c' --include='*.h' --include='*.cu' --include='*.cuh' -e "$1" util kernels engine harness)" = "$2" ]
}
check "FNV-1a is implemented once (util/hash.c)" one_def '1099511628211' util/hash.c
check "half -> float is implemented once (util/half.c)" one_def '\+ 112\) << 23' util/half.c

# Every MPI call is checked (issue 14): outside util/mpi_check.h, each MPI_Xxx( call of the
# harness and engine sits in MPI_CHECK, compares with MPI_SUCCESS, or is MPI_Abort/MPI_Error_string.
unchecked() {
    grep -nE '\bMPI_[A-Z][a-z_]+\(' harness/*/*.c engine/*.c engine/*.cu |
        grep -vE 'MPI_CHECK\(|MPI_Abort\(|MPI_Error_string\(|!= MPI_SUCCESS|^[^:]+:[0-9]+:\s*(/\*|\*)'
}
check "every MPI call is checked" test -z "$(unchecked)"

# The call rule on the real libraries, then with an upward call planted in the kernels library.
LDL=${KV_LDLIBS:-$(make -s print-ldlibs BUILD="$BUILD" 2>/dev/null | tail -n 1)}
CCX=${KV_CC:-mpicc}
if [ -f "$BUILD/lib/libkv_cli.a" ]; then
    mkdir -p "$T/lib"; cp "$BUILD"/lib/libkv_*.a "$T/lib/"
    check "each layer links against the layers below it alone" \
        env CC="$CCX" LDLIBS="$LDL" bash tools/check-layers.sh --link "$T/lib"
    printf 'int sweep_load(const char *path, void *s);\nint layer_up(void);\n'\
'int layer_up(void) { return sweep_load("x", 0); }\n' > "$T/up.c"
    "$CCX" -c -o "$T/up.o" "$T/up.c" && ar rs "$T/lib/libkv_kernels.a" "$T/up.o" 2>/dev/null
    expect_fail "a kernels object calling the sweep layer fails to link" \
        'layer kernels calls a layer above it' env CC="$CCX" LDLIBS="$LDL" bash tools/check-layers.sh --link "$T/lib"
else
    echo "t_layers: $BUILD/lib has no layer libraries (run make first)" >&2; T_FAILED=$((T_FAILED + 1))
fi
rm -rf "$T"
finish
