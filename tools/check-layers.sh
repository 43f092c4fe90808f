#!/usr/bin/env bash
# check-layers: the include rule of the layered build (issue 14). Layers, bottom to top:
#   0 util/   1 kernels/   2 engine/   3 harness/longbench/   4 harness/sweep/   5 harness/cli/
# A file may include only headers of its own layer or of a layer below; every quoted include must
# name a file of some layer. Prints each violation as file:line and exits 1.
# With --link LIBDIR, the call rule instead: each layer's archive LIBDIR/libkv_LAYER.a, linked whole
# (--whole-archive) with only the archives below it, must leave no undefined reference, so an upward
# call is a link failure (CC and LDLIBS from the environment; `make layer-check` sets them). Usage:
#   tools/check-layers.sh [ROOT]            (default: the repository; tests/t_layers.sh passes a scratch tree)
#   tools/check-layers.sh --link LIBDIR
set -u
if [ "${1:-}" = --link ]; then
    dir=$2 below=
    printf 'int main(void) { return 0; }\n' > "$dir/layer_main.c"
    for L in util kernels engine longbench sweep cli; do
        lib=$dir/libkv_$L.a
        # shellcheck disable=SC2086
        if ! ${CC:-cc} -o "$dir/layer_$L" "$dir/layer_main.c" -Wl,--whole-archive "$lib" -Wl,--no-whole-archive \
            $below ${LDLIBS:-}; then
            echo "check-layers: layer $L calls a layer above it (the undefined references above)" >&2
            exit 1
        fi
        rm -f "$dir/layer_$L"
        below="$lib $below"
    done
    echo "check-layers: each layer's library links against the layers below it alone"
    exit 0
fi
root=${1:-$(dirname "$0")/..}
cd "$root" || exit 2
layer_of() {
    case $1 in
    util/*) echo 0 ;; kernels/*) echo 1 ;; engine/*) echo 2 ;;
    harness/longbench/*) echo 3 ;; harness/sweep/*) echo 4 ;; harness/cli/*) echo 5 ;;
    *) echo -1 ;;
    esac
}
bad=0 n=0
while IFS= read -r f; do
    from=$(layer_of "$f")
    while IFS=: read -r line inc; do
        [ -n "$inc" ] || continue
        n=$((n + 1))
        to=$(layer_of "$inc")
        if [ "$to" -lt 0 ]; then
            echo "check-layers: $f:$line includes \"$inc\", which is in no layer" >&2; bad=1
        elif [ "$to" -gt "$from" ]; then
            echo "check-layers: $f:$line includes \"$inc\" from a layer above it (layer $to > $from)" >&2; bad=1
        fi
    done < <(grep -n '^[[:space:]]*#[[:space:]]*include[[:space:]]*"' "$f" | sed -E 's/^([0-9]+):.*include[[:space:]]*"([^"]*)".*/\1:\2/')
done < <(find util kernels engine harness -type f \( -name '*.c' -o -name '*.h' -o -name '*.cu' -o -name '*.cuh' \) 2>/dev/null | sort)
if [ "$bad" -ne 0 ]; then exit 1; fi
echo "check-layers: $n includes, none points upward"
