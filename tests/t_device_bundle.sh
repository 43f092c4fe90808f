#!/usr/bin/env bash
# t_device_bundle: `make device-bundle` (issue 13) gives a folder within the size limit whose
# binaries need only glibc, libstdc++/libgcc and the CUDA libraries (ldd), and that runs in a
# chroot holding just the bundle, those libraries and the CUDA toolkit's lib folder, so none of
# Debian's other packages (MPI, HDF5, libyaml, PCRE2, jansson, OpenBLAS) is visible: --help, a
# CPU bench on random weights, a fake-engine sweep writing HDF5, the CUDA tests saying "no CUDA
# device", multi-rank requests refused. Then the tools/gpu-check.sh dry run: every step before
# the first GPU call passes and it ends on "no GPU" (exit 3). Needs nvcc (the bundle is a CUDA
# build) and root (unshare -m, chroot); without them it says why and counts nothing.
set -u
cd "$(dirname "$0")/.."
. tests/lib.sh
B=build/device-bundle
MAX_MIB=50
if [ "${SANITIZE:-0}" = 1 ] || [[ $KVBENCH == build/asan/* ]]; then
    echo "t_device_bundle.sh: skipped, the sanitizer tier (the bundle is a plain build, checked in make test)"; finish; exit
fi
if ! command -v nvcc >/dev/null 2>&1 && [ ! -x /usr/local/cuda/bin/nvcc ]; then
    echo "t_device_bundle.sh: skipped, no nvcc (the device bundle is a CUDA build)"; finish; exit
fi
# fp32 kernels are compared with their CPU twins up to summation order: nvcc must not contract
# a*b+c into FMA (-fmad=false on every kernel, issue 13).
nv=$(make -n -B V=1 build/kernels/cuda/attention.o build/kernels/cuda/scoring.o 2>/dev/null | grep -c -- '-fmad=false')
check "every CUDA kernel compiled with -fmad=false ($nv of 2)" test "$nv" -eq 2
out=$(make -j2 device-bundle 2>&1); rc=$?
check "make device-bundle" test $rc -eq 0
[ $rc -eq 0 ] || { tail -n 20 <<<"$out" >&2; finish; exit; }
mib=$(du -sm "$B" | cut -f1)
echo "t_device_bundle: $B is ${mib} MiB"
check "bundle within $MAX_MIB MiB (${mib} MiB)" test "$mib" -le "$MAX_MIB"
BINS="$B/kvbench $B/lib/libkvbench.so $B/lib/*.so.* $B/tests/cuda/test_*"
n_cuda_tests=$(ls tests/cuda/test_*.c | wc -l)
check "bundle has every CUDA test ($n_cuda_tests)" test "$(ls $B/tests/cuda/test_* | wc -l)" -eq "$n_cuda_tests"

# Every library the bundle loads: its own lib/, glibc, libstdc++/libgcc, or CUDA's.
ALLOWED='^(ld-linux-x86-64|libc|libm|libdl|libpthread|librt|libstdc\+\+|libgcc_s|libcublas|libcublasLt)\.so'
deps=$(ldd $BINS 2>/dev/null | awk '/=>/ {print $1, $3}' | sort -u)
other=$(awk -v b="$(realpath $B)" '$2 !~ "^" b "/" {print $1}' <<<"$deps" | grep -vE "$ALLOWED" || true)
check "bundle needs only glibc, libstdc++, libgcc and cuBLAS (others: ${other:-none})" test -z "$other"
check "no library left unresolved" bash -c "! ldd $BINS | grep -q 'not found'"

if [ "$(id -u)" -ne 0 ] || ! command -v unshare >/dev/null; then
    echo "t_device_bundle: chroot part skipped, needs root and unshare"
elif ! unshare -m sh -c "mount --bind /tmp /mnt" 2>/dev/null; then
    echo "t_device_bundle: chroot part skipped, no mount namespaces here (unshare -m + mount refused)"
else
    R=$(mktemp -d /tmp/kvbundle.XXXXXX)
    mkdir -p "$R/b" "$R/tmp" "$R/proc" "$R/dev" "$R/sys" "$R/data"
    cp -a "$B/." "$R/b/"
    cp -a data/demo "$R/data/"
    # glibc, libstdc++ and libgcc exactly where ldd found them (the loader's paths)
    for lib in $(awk '$1 ~ /^(libc|libm|libdl|libpthread|librt|libstdc\+\+|libgcc_s)\.so/ {print $2}' <<<"$deps") \
        $(ldd "$B/kvbench" | grep -oE '/[^ ]*ld-linux[^ ]*'); do
        mkdir -p "$R$(dirname "$lib")"
        cp -L "$lib" "$R$lib"
    done
    CUDA_LIB=$(realpath /usr/local/cuda/lib64)
    mkdir -p "$R$CUDA_LIB" "$R/usr/local/cuda"
    [ "$CUDA_LIB" = /usr/local/cuda/lib64 ] || ln -s "$CUDA_LIB" "$R/usr/local/cuda/lib64"
    cat >"$R/s.yaml" <<YAML
name: fake
data: /data/demo
budgets: [128]
methods: [fullkv, h2o]
models:
  - name: m1
    path: /b/kvbench
YAML
    # in the chroot: cmd NAME ARGS... runs /b/... with stdout+stderr to /tmp/NAME.out, exit to .rc
    jail() {
        unshare -m sh -c "mount --bind $CUDA_LIB $R$CUDA_LIB && mount -t proc proc $R/proc && \
            mount --bind /dev $R/dev && mount --bind /sys $R/sys && chroot $R /b/kvbench $* " 2>&1
    }
    # exits RC WANT PATTERN OUTPUT: the exit status was WANT and the output matches PATTERN
    exits() { [ "$1" -eq "$2" ] && grep -qE -- "$3" <<<"$4"; }
    check "chroot has no libhdf5/libyaml/libmpi" bash -c "! find $R -name 'libhdf5*' -o -name 'libyaml*' -o -name 'libmpi*' | grep -q ."
    out=$(jail --help); rc=$?
    check "kvbench --help in the chroot (exit $rc)" grep -q "^usage: kvbench" <<<"$out"
    out=$(jail bench --random smollm2-135m --backend cpu --prompt-tokens 16 --gen 2 --runs 1 --threads 2); rc=$?
    check "CPU bench on random weights in the chroot (exit $rc)" grep -q "^decode:" <<<"$out"
    [ $rc -eq 0 ] || echo "$out" >&2
    out=$(jail bench --random smollm2-135m --backend cuda --prompt-tokens 16 --gen 2 --runs 1); rc=$?
    check "CUDA bench without a GPU: a clear error (exit $rc)" exits $rc 1 "no CUDA device" "$out"
    out=$(jail bench --random smollm2-135m --backend cpu --tensor-parallel 2 --runs 1); rc=$?
    check "--tensor-parallel 2 refused: built without MPI (exit $rc)" exits $rc 1 "built without MPI" "$out"
    out=$(KVBENCH_FAKE_ENGINE=1 OMPI_COMM_WORLD_SIZE=2 jail run /s.yaml --output /tmp/o2); rc=$?
    check "a run under mpirun refused: built without MPI (exit $rc)" exits $rc 1 "built without MPI" "$out"
    out=$(KVBENCH_FAKE_ENGINE=1 jail run /s.yaml --output /tmp/o); rc=$?
    check "fake-engine sweep writes HDF5 in the chroot (exit $rc)" test $rc -eq 0 -a -s "$R/tmp/o/summary.h5"
    [ $rc -eq 0 ] || echo "$out" >&2
    out=$(jail show /tmp/o --format csv); rc=$?
    check "kvbench show reads the HDF5 store back (exit $rc)" grep -q "H2O" <<<"$out"
    for t in $(cd tests/cuda && ls test_*.c | sed 's/\.c$//'); do
        out=$(unshare -m sh -c "mount --bind $CUDA_LIB $R$CUDA_LIB && mount -t proc proc $R/proc && \
            chroot $R /b/tests/cuda/$t" 2>&1); rc=$?
        check "$t in the chroot: skipped, no CUDA device (exit $rc)" exits $rc 0 "^$t: skipped, no CUDA device" "$out"
    done
    [ -n "${KEEP_CHROOT:-}" ] && echo "chroot kept: $R" || rm -rf "$R"
fi

# The gpu-check dry run: no GPU here, so it stops at the probe with every earlier step ok.
G=tests/tmp/t_device_bundle
rm -rf "$G"; mkdir -p "$G"
OUT="$G/gpu" bash tools/gpu-check.sh >"$G/gpu-check.out" 2>&1; rc=$?
check "gpu-check dry run exits 3 (no GPU) (exit $rc)" test $rc -eq 3
for s in bundle cpu-smoke; do
    check "gpu-check: $s ok" grep -qE "^$s +ok" "$G/gpu/summary.txt"
done
check "gpu-check: probe says no GPU" grep -qE "^gpu-probe +no GPU" "$G/gpu/summary.txt"
check "gpu-check: later steps skipped for no GPU" grep -qE "^test-cuda +skipped +- +no GPU" "$G/gpu/summary.txt"
check "gpu-check: step limits within the budget" grep -qE "step limits sum to [0-9]+s" "$G/gpu/summary.txt"
check "gpu-check: summary fits one screen" test "$(wc -l <"$G/gpu/summary.txt")" -le 30
check "gpu-check: every log under OUT" test -s "$G/gpu/bundle.log" -a -s "$G/gpu/cpu-smoke.log" -a -s "$G/gpu/gpu-probe.log"
[ $rc -eq 3 ] || cat "$G/gpu-check.out" >&2
finish
