#!/usr/bin/env bash
# build.sh: builds the libFuzzer targets (tests/fuzz/fuzz_*.c) with clang under ASan + UBSan.
# The project's sources (all but harness/cli/main.c) are compiled once with -fsanitize=fuzzer-no-link
# into build/fuzz/obj and every target links against all of them, so each target fuzzes exactly
# the code `kvbench` runs. Incremental: a source is recompiled when it, or any project header, is
# newer than its object. Usage: tests/fuzz/build.sh [target...]   (default: every target)
set -eu
cd "$(dirname "$0")/../.."
CLANG=${CLANG:-$(command -v clang || command -v clang-14 || true)}
if [ -z "$CLANG" ]; then echo "fuzz build: clang not found (apt-get install clang)" >&2; exit 2; fi
OUT=build/fuzz
PKGS="hdf5-openmpi yaml-0.1 libpcre2-8 jansson"
BLAS_OMP=/usr/lib/x86_64-linux-gnu/openblas-openmp
if [ -f "$BLAS_OMP/libopenblas.so" ]; then
    BLAS_CFLAGS="-I/usr/include/x86_64-linux-gnu/openblas-openmp"
    BLAS_LIBS="-L$BLAS_OMP -Wl,-rpath,$BLAS_OMP -lopenblas"
else
    BLAS_CFLAGS=$(pkg-config --cflags openblas 2>/dev/null || true)
    BLAS_LIBS=$(pkg-config --libs openblas 2>/dev/null || echo -lopenblas)
fi
SAN="-fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer"
CFLAGS="-std=c11 -O1 -g -D_GNU_SOURCE -I. -fopenmp -Wno-unknown-pragmas $SAN \
  $(mpicc -showme:compile) $(pkg-config --cflags $PKGS) $BLAS_CFLAGS"
LIBS="$(mpicc -showme:link) $(pkg-config --libs $PKGS) $BLAS_LIBS -lhdf5_hl -lm -fopenmp"
mkdir -p "$OUT/obj"
newest_header=$(ls -t util/*.h engine/*.h harness/*/*.h kernels/*.h 2>/dev/null | head -n 1)
objs=()
pids=()
jobs_max=${JOBS:-2}
for src in util/*.c kernels/cpu/*.c engine/*.c engine/methods/*.c harness/*/*.c; do
    [ "$src" = harness/cli/main.c ] && continue
    obj="$OUT/obj/${src//\//_}"; obj="${obj%.c}.o"
    objs+=("$obj")
    if [ ! -f "$obj" ] || [ "$src" -nt "$obj" ] || [ "$newest_header" -nt "$obj" ]; then
        echo "  CC (fuzz) $src"
        $CLANG $CFLAGS -fsanitize=fuzzer-no-link -c -o "$obj" "$src" &
        pids+=($!)
        if [ ${#pids[@]} -ge "$jobs_max" ]; then wait "${pids[0]}"; pids=("${pids[@]:1}"); fi
    fi
done
for p in "${pids[@]}"; do wait "$p"; done
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
    for f in tests/fuzz/fuzz_*.c; do t=$(basename "$f" .c); targets+=("${t#fuzz_}"); done
fi
for t in "${targets[@]}"; do
    echo "  LD (fuzz) $OUT/fuzz_$t"
    $CLANG $CFLAGS -fsanitize=fuzzer -o "$OUT/fuzz_$t" "tests/fuzz/fuzz_$t.c" "${objs[@]}" $LIBS
done
