# kvbench build. The CPU backend is always built; CUDA code is compiled when nvcc exists (CUDA=1
# forces it and fails without nvcc, CUDA=0 skips it). `make test` runs every test and ends with
# "N passed, N failed".

BUILD   ?= build
SANITIZE ?= 0

MPICC := $(shell command -v mpicc 2>/dev/null)
NVCC  := $(shell command -v nvcc 2>/dev/null || ls /usr/local/cuda/bin/nvcc 2>/dev/null)
# BUNDLE=1 (issue 13; `make device-bundle` sets it): the self-contained build for a GPU machine that
# has only glibc, libstdc++ and the CUDA libraries. gcc instead of mpicc with the single-rank MPI
# stand-in engine/nompi/mpi.h (-DKV_NO_MPI: multi-rank runs are a clear error), serial HDF5, and
# every other library linked from Debian's static archives; its objects go to build/bundle.
BUNDLE ?= 0
ifeq ($(BUNDLE),1)
PKGS  := hdf5-serial yaml-0.1 libpcre2-8 jansson
else
PKGS  := hdf5-openmpi yaml-0.1 libpcre2-8 jansson
ifeq ($(MPICC),)
$(error mpicc not found: run ./setup.sh (installs libopenmpi-dev))
endif
endif
MISSING := $(foreach p,$(PKGS),$(if $(shell pkg-config --exists $(p) && echo y),,$(p)))
ifneq ($(strip $(MISSING)),)
$(error missing libraries ($(MISSING)): run ./setup.sh)
endif

# OpenBLAS: the OpenMP build, so that BLAS called inside our OpenMP regions runs single-threaded
# instead of oversubscribing the cores (the pthread build does not know about OpenMP).
BLAS_OMP := /usr/lib/x86_64-linux-gnu/openblas-openmp
ifneq ($(wildcard $(BLAS_OMP)/libopenblas.so),)
BLAS_CFLAGS := -I/usr/include/x86_64-linux-gnu/openblas-openmp
BLAS_LIBS   := -L$(BLAS_OMP) -Wl,-rpath,$(BLAS_OMP) -lopenblas
$(info make: OpenBLAS: OpenMP build ($(BLAS_OMP)))
else
BLAS_CFLAGS := $(shell pkg-config --cflags openblas)
BLAS_LIBS   := $(shell pkg-config --libs openblas)
$(info make: OpenBLAS: $(if $(BLAS_LIBS),pkg-config openblas (not the OpenMP build),not found))
endif

CC := $(MPICC)
CFLAGS := -std=c11 -O2 -g -Wall -Wextra -Wshadow -Wstrict-prototypes -Wmissing-prototypes \
          -Werror=implicit-function-declaration -fopenmp -D_GNU_SOURCE -I. -MMD -MP \
          $(shell pkg-config --cflags $(PKGS)) $(BLAS_CFLAGS)
LDLIBS := $(shell pkg-config --libs $(PKGS)) $(BLAS_LIBS) -lhdf5_hl -lm -fopenmp

ifeq ($(BUNDLE),1)
BUILD  := build/bundle
CC     := gcc
CFLAGS += -DKV_NO_MPI -Iengine/nompi -fPIC
# Static archives (Debian ships each): serial HDF5 and its compression filters, libyaml, PCRE2
# and the OpenMP OpenBLAS; jansson's archive is not PIC, so its shared library travels (below).
LIBDIR := /usr/lib/x86_64-linux-gnu
H5DIR  := $(LIBDIR)/hdf5/serial
# Debian's libhdf5.a is not position-independent, so HDF5 (and libyaml) link into the executable
# with the harness; the engine, kernels, OpenBLAS, PCRE2 and jansson form lib/libkvbench.so.
EXE_STATIC := $(H5DIR)/libhdf5_hl.a $(H5DIR)/libhdf5.a $(LIBDIR)/libsz.a $(LIBDIR)/libaec.a $(LIBDIR)/libz.a \
              $(LIBDIR)/libyaml.a
SO_STATIC  := $(LIBDIR)/libpcre2-8.a $(BLAS_OMP)/libopenblas.a
MISSING_A := $(foreach a,$(EXE_STATIC) $(SO_STATIC),$(if $(wildcard $(a)),,$(a)))
ifneq ($(strip $(MISSING_A)),)
$(error BUNDLE=1: static libraries not found ($(MISSING_A)): run ./setup.sh)
endif
LDLIBS := -Wl,--as-needed $(SO_STATIC) -ljansson -lm -ldl -lpthread -fopenmp
# Shared libraries that travel in lib/ (not PIC in Debian's archives, or GCC's OpenMP runtime, whose
# initial-exec TLS cannot be linked into a shared library): each needs only glibc.
BUNDLE_SHLIBS := $(LIBDIR)/libjansson.so.4 $(shell gcc -print-file-name=libgomp.so.1)
$(info make: BUNDLE=1: gcc without MPI (engine/nompi/mpi.h), serial HDF5, static libraries, objects in $(BUILD))
endif

ifeq ($(SANITIZE),1)
BUILD := build/asan
CFLAGS += -fsanitize=address,undefined -fno-omit-frame-pointer -O1
LDLIBS += -fsanitize=address,undefined
$(info make: SANITIZE=1: ASan + UBSan build in $(BUILD))
# Open MPI's allocations from MPI_Init live until exit: suppressed (tests/lsan_mpi.supp), which
# needs full malloc stacks (its components are unloaded at finalize). LSan's "Suppressions used"
# table would land in outputs the tests compare (t_tp.sh). Either can be overridden.
TEST_ENV := ASAN_OPTIONS=$${ASAN_OPTIONS:-fast_unwind_on_malloc=0} \
            LSAN_OPTIONS=$${LSAN_OPTIONS:-suppressions=$(CURDIR)/tests/lsan_mpi.supp:print_suppressions=0} \
            UBSAN_OPTIONS=$${UBSAN_OPTIONS:-print_stacktrace=1}
endif

ifeq ($(AVX512_EMU),1)
# The kernels' AVX-512 and VNNI versions on a CPU without them (tests only): SIMDe's intrinsics
# (libsimde-dev) forced before every source, the AVX-512 versions compiled for AVX2 and reported
# available (kernels/cpu/avx512_emu.h, kernels/cpu/isa_targets.h). `make AVX512_EMU=1 test-avx512-emu`.
BUILD := build/avx512emu
CFLAGS += -mavx2 -mfma -mf16c -Wno-psabi -DKV_AVX512_EMU -include kernels/cpu/avx512_emu.h
$(info make: AVX512_EMU=1: AVX-512 emulated by SIMDe in $(BUILD))
endif

# CUDA decision: CUDA=1 requires nvcc, CUDA=0 disables, default follows detection.
ifeq ($(CUDA),1)
ifeq ($(NVCC),)
$(error CUDA=1 but nvcc was not found (install the CUDA toolkit or use CUDA=0))
endif
endif
ifeq ($(CUDA),)
CUDA := $(if $(NVCC),1,0)
endif
$(info make: $(if $(filter 1,$(BUNDLE)),gcc,mpicc $(MPICC)); libraries $(PKGS) via pkg-config)
$(info make: CUDA=$(CUDA)$(if $(NVCC), (nvcc $(NVCC)), (no nvcc)))

# Layers (issue 14), bottom to top: util -> kernels -> engine -> harness/longbench -> harness/sweep
# -> harness/cli. Each layer is one static library and may include and call only the layers below
# it; `make layer-check` (part of `all`) proves it: no #include points upward
# (tools/check-layers.sh) and each library, linked whole, resolves against the layers below alone.
LAYERS := util kernels engine longbench sweep cli
util_SRCS      := $(wildcard util/*.c)
kernels_SRCS   := $(wildcard kernels/cpu/*.c)
engine_SRCS    := $(wildcard engine/*.c engine/methods/*.c)
longbench_SRCS := $(wildcard harness/longbench/*.c)
sweep_SRCS     := $(wildcard harness/sweep/*.c)
cli_SRCS       := $(filter-out harness/cli/main.c,$(wildcard harness/cli/*.c))
$(foreach L,$(LAYERS),$(eval $(L)_OBJS := $(patsubst %.c,$(BUILD)/%.o,$($(L)_SRCS))))
C_SRCS    := $(foreach L,$(LAYERS),$($(L)_SRCS)) harness/cli/main.c
MAIN_OBJ  := $(BUILD)/harness/cli/main.o
TEST_SRCS := $(wildcard tests/test_*.c)
TEST_BINS := $(patsubst tests/%.c,$(BUILD)/tests/%,$(TEST_SRCS))

# CUDA (issue 6): every .cu under kernels/cuda and engine is compiled for sm_90 and linked into
# kvbench and the tests; engine/backend.c (the one registration #ifdef) and test_cublas_load alone get
# -DKV_HAVE_CUDA.
# Without a GPU the binary still runs: the CUDA backend reports no device and `auto` picks the CPU.
# -fmad=false: no contraction of fp32 a*b+c into FMA, so the fp32 kernels differ from their CPU
# twins (compiled without FMA: x86-64 baseline) only in summation order, as the tests assume.
# The bundle links the CUDA objects of the main build (build/), so they are compiled once.
comma := ,
kernels_CUDA := $(wildcard kernels/cuda/*.cu)
engine_CUDA  := $(wildcard engine/*.cu)
CUDA_SRCS := $(kernels_CUDA) $(engine_CUDA)
CUDA_OBJ_DIR := $(if $(filter 1,$(BUNDLE)),build,$(BUILD))
CUDA_OBJS := $(patsubst %.cu,$(CUDA_OBJ_DIR)/%.o,$(CUDA_SRCS))
NVCCFLAGS := -O3 -std=c++17 -arch=sm_90 -fmad=false -I. -Xcompiler -fPIC,-Wall -MMD -MP
CUDA_HOME := $(patsubst %/bin/nvcc,%,$(NVCC))
CUDA_TEST_SRCS := $(wildcard tests/cuda/test_*.c)
CUDA_TEST_BINS := $(patsubst tests/%.c,$(BUILD)/tests/%,$(CUDA_TEST_SRCS))
ifeq ($(CUDA),1)
kernels_OBJS += $(patsubst %.cu,$(CUDA_OBJ_DIR)/%.o,$(kernels_CUDA))
engine_OBJS  += $(patsubst %.cu,$(CUDA_OBJ_DIR)/%.o,$(engine_CUDA))
CUDA_LIBDIR := $(firstword $(wildcard $(CUDA_HOME)/lib64 $(CUDA_HOME)/lib))
ifeq ($(BUNDLE),1)
# cudart linked statically (it finds the driver's libcuda at run time). cuBLAS is not linked in any
# build: the CUDA backend dlopens it when it starts on a GPU (kernels/cublas_load.h: its static data
# costs every process ~90 MiB), from the loader's path, RUNPATH or /usr/local/cuda/lib64.
LDLIBS   += -L$(CUDA_LIBDIR) -Wl,-rpath,/usr/local/cuda/lib64 -lcudart_static -lrt -ldl -lstdc++
else
LDLIBS   += $(if $(CUDA_LIBDIR),-L$(CUDA_LIBDIR) -Wl$(comma)-rpath$(comma)$(CUDA_LIBDIR)) \
            -lcudart -ldl -lstdc++
endif
$(BUILD)/engine/backend.o $(BUILD)/tests/test_cublas_load: CFLAGS += -DKV_HAVE_CUDA
$(info make: CUDA libraries from $(or $(CUDA_LIBDIR),the default linker path); kernels for sm_90)
endif

# NCCL (issue 7, tensor parallel on GPUs): engine/comm_nccl.cu needs nccl.h and <mpi.h> (the
# MPI compile flags from mpicc); without NCCL it is left out and TP on the CUDA backend is a clear
# run-time error, while CUDA without TP still builds.
NCCL_H   := $(firstword $(wildcard $(CUDA_HOME)/include/nccl.h /usr/include/nccl.h))
ifeq ($(BUNDLE),1)
NCCL_H   := # one process, no tensor parallel: NCCL is left out of the bundle
endif
ifeq ($(CUDA),1)
ifneq ($(NCCL_H),)
LDLIBS   += -lnccl
$(BUILD)/engine/backend.o: CFLAGS += -DKV_HAVE_NCCL
$(BUILD)/engine/comm_nccl.o: NVCCFLAGS += $(shell $(MPICC) -showme:compile 2>/dev/null || pkg-config --cflags mpich 2>/dev/null)
$(info make: NCCL $(NCCL_H): tensor parallel on CUDA uses NCCL)
else
engine_OBJS := $(filter-out $(CUDA_OBJ_DIR)/engine/comm_nccl.o,$(engine_OBJS))
CUDA_OBJS   := $(filter-out $(CUDA_OBJ_DIR)/engine/comm_nccl.o,$(CUDA_OBJS))
$(info make: NCCL not found: tensor parallel on the CUDA backend disabled (CPU TP unaffected))
endif
endif

# One archive per layer; linked top-down (cli first, util last) so each resolves against those below.
LAYER_LIB = $(BUILD)/lib/libkv_$(1).a
LIBS_TOPDOWN := $(foreach L,cli sweep longbench engine kernels util,$(call LAYER_LIB,$(L)))
OBJS := $(MAIN_OBJ) $(foreach L,$(LAYERS),$($(L)_OBJS))

.PHONY: all test test-avx512-emu test-cuda cuda-check device-bundle bundle-install layer-check print-ldlibs bench format clean
all: $(BUILD)/kvbench $(TEST_BINS) layer-check

# V=1 prints the full commands.
Q := $(if $(filter 1,$(V)),,@)

$(foreach L,$(LAYERS),$(eval $(call LAYER_LIB,$(L)): $($(L)_OBJS)))
$(BUILD)/lib/%.a:
	@mkdir -p $(dir $@)
	@echo "  AR    $@"
	$(Q)rm -f $@ && ar rcs $@ $^

$(BUILD)/kvbench: $(MAIN_OBJ) $(LIBS_TOPDOWN)
	@echo "  LD    $@"
	$(Q)$(CC) -o $@ $^ $(LDLIBS)

# layer-check: the include rule on the sources, then each layer's whole archive linked with only the
# layers below it (an upward call is an undefined reference). Re-run when a library or header changes.
layer-check: $(BUILD)/layers.ok
$(BUILD)/layers.ok: tools/check-layers.sh $(LIBS_TOPDOWN) $(wildcard util/*.h kernels/*.h kernels/cuda/*.cuh engine/*.h harness/*/*.h)
	@echo "  CHECK layers"
	$(Q)bash tools/check-layers.sh
	$(Q)CC="$(CC)" LDLIBS="$(LDLIBS)" bash tools/check-layers.sh --link $(BUILD)/lib
	$(Q)touch $@

$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	@echo "  CC    $<"
	$(Q)$(CC) $(CFLAGS) -c -o $@ $<

$(BUILD)/tests/%: tests/%.c $(LIBS_TOPDOWN)
	@mkdir -p $(dir $@)
	@echo "  TEST  $@"
	$(Q)$(CC) $(CFLAGS) -o $@ $< $(LIBS_TOPDOWN) $(LDLIBS)

# The README's "adding a method" proof: tests/toy_method.c is a plug-in file like those of
# engine/methods/ and its registry line is given to engine/method.c as -DMETHOD_EXTRA=method_toy,
# in objects of this test alone (they come before the libraries, so the library's method.o is
# not linked); kvbench and the other tests never see the toy.
TOY_OBJS := $(BUILD)/tests/toy/method.o $(BUILD)/tests/toy/toy_method.o
$(BUILD)/tests/toy/method.o: engine/method.c
	@mkdir -p $(dir $@)
	@echo "  CC    $< (+ method_toy)"
	$(Q)$(CC) $(CFLAGS) -DMETHOD_EXTRA=method_toy -c -o $@ $<
$(BUILD)/tests/toy/toy_method.o: tests/toy_method.c
	@mkdir -p $(dir $@)
	@echo "  CC    $<"
	$(Q)$(CC) $(CFLAGS) -c -o $@ $<
$(BUILD)/tests/test_toy_method: tests/test_toy_method.c $(TOY_OBJS) $(LIBS_TOPDOWN)
	@mkdir -p $(dir $@)
	@echo "  TEST  $@"
	$(Q)$(CC) $(CFLAGS) -o $@ $< $(TOY_OBJS) $(LIBS_TOPDOWN) $(LDLIBS)

# Switching CUDA on or off in one BUILD folder rebuilds the registration and relinks.
$(BUILD)/engine/backend.o: $(BUILD)/cuda-$(CUDA).stamp
$(BUILD)/cuda-$(CUDA).stamp:
	@mkdir -p $(BUILD)
	@rm -f $(BUILD)/cuda-*.stamp
	@touch $@

$(CUDA_OBJ_DIR)/%.o: %.cu
	@mkdir -p $(dir $@)
	@echo "  NVCC  $<"
	$(Q)$(NVCC) $(NVCCFLAGS) -c -o $@ $<

test: all
	@$(TEST_ENV) BUILD=$(BUILD) KV_CC="$(CC)" KV_LDLIBS="$(LDLIBS)" bash tests/run_tests.sh

# The kernel tests that check every available version's bits against the portable C, with AVX-512
# and VNNI emulated (AVX512_EMU=1 above): the AVX-512 code paths tested on an AVX2 CPU.
AVX512_EMU_TESTS := test_kernels test_qweights
SPACE := $(subst ,, )
test-avx512-emu: $(patsubst %,$(BUILD)/tests/%,$(AVX512_EMU_TESTS))
ifneq ($(AVX512_EMU),1)
	@echo "make: $@ needs AVX512_EMU=1 (make AVX512_EMU=1 $@)" >&2; exit 1
endif
	@BUILD=$(BUILD) KVBENCH_TEST_ONLY='$(subst $(SPACE),|,$(AVX512_EMU_TESTS))' bash tests/run_tests.sh

# Compiles every CUDA source for Hopper (sm_90) and links kvbench and the CUDA tests against
# cudart/cuBLAS; runs on any machine with nvcc, GPU or not.
ifeq ($(CUDA),1)
cuda-check: $(CUDA_OBJS) $(BUILD)/kvbench $(CUDA_TEST_BINS)
	@echo "cuda-check: $(words $(CUDA_OBJS)) CUDA sources compiled for sm_90; kvbench and $(words $(CUDA_TEST_BINS)) CUDA tests linked"

# Every CUDA kernel against its CPU twin, and the whole model against the CPU backend. Without a
# device the binaries are built and the run says it was skipped (exit 0, no pass count).
test-cuda: $(BUILD)/kvbench $(CUDA_TEST_BINS)
	@BUILD=$(BUILD) bash tests/cuda/run.sh
else
cuda-check test-cuda:
	@echo "make: $@ needs CUDA=1 (nvcc; this build has CUDA=0)" >&2; exit 1
endif

# The link flags, for scripts that link against the layer libraries (tests/t_layers.sh).
print-ldlibs:
	@echo $(LDLIBS)

# The device bundle (issue 13): kvbench and the CUDA tests for sm_90, needing only glibc,
# libstdc++ and the CUDA libraries, in $(BUNDLE_DIR) (debug info stripped). Carry that folder to a
# GPU machine with the working tree and run tools/gpu-check.sh there; the end-to-end CUDA tests use
# seeded random weights of the demo model's shape (no model file travels).
BUNDLE_DIR := build/device-bundle
# Everything but main() is one shared library, lib/libkvbench.so, that kvbench and the tests load
# through RPATH $ORIGIN: the static OpenBLAS alone is ~30 MB, once instead of four times.
ifeq ($(BUNDLE),1)
# The harness stays in the executable (HDF5 is not PIC; cmd_run.o's .preinit_array is not allowed
# in a shared library); the CUDA tests need only the library.
BUNDLE_TESTS := $(patsubst tests/cuda/%.c,$(BUILD)/dist/tests/cuda/%,$(CUDA_TEST_SRCS))
EXE_OBJS := $(MAIN_OBJ) $(longbench_OBJS) $(sweep_OBJS) $(cli_OBJS)
$(BUILD)/dist/lib/libkvbench.so: $(util_OBJS) $(kernels_OBJS) $(engine_OBJS)
	@mkdir -p $(dir $@)
	@echo "  LD    $@"
	$(Q)$(CC) -shared -Wl,-Bsymbolic -Wl,-soname,libkvbench.so -Wl,-rpath,'$$ORIGIN' -o $@ $^ $(LDLIBS)
$(BUILD)/dist/kvbench: $(EXE_OBJS) $(BUILD)/dist/lib/libkvbench.so
	@echo "  LD    $@"
	$(Q)$(CC) -o $@ $(EXE_OBJS) -L$(BUILD)/dist/lib -lkvbench -Wl,-rpath,'$$ORIGIN/lib' -Wl,--as-needed \
	    $(EXE_STATIC) -ljansson -lm -ldl -lpthread -fopenmp
$(BUILD)/dist/tests/cuda/%: tests/cuda/%.c $(BUILD)/dist/lib/libkvbench.so
	@mkdir -p $(dir $@)
	@echo "  TEST  $@"
	$(Q)$(CC) $(CFLAGS) -o $@ $< -L$(BUILD)/dist/lib -lkvbench -Wl,-rpath,'$$ORIGIN/../../lib' -lm -Wl,--as-needed
bundle-install: $(BUILD)/dist/kvbench $(BUNDLE_TESTS)
	@rm -rf $(BUNDLE_DIR) && mkdir -p $(BUNDLE_DIR)/tests/cuda $(BUNDLE_DIR)/lib
	$(Q)strip --strip-debug -o $(BUNDLE_DIR)/lib/libkvbench.so $(BUILD)/dist/lib/libkvbench.so
	$(Q)cp -L $(BUNDLE_SHLIBS) $(BUNDLE_DIR)/lib/
	$(Q)strip --strip-debug -o $(BUNDLE_DIR)/kvbench $(BUILD)/dist/kvbench
	$(Q)for t in $(BUNDLE_TESTS); do strip --strip-debug -o $(BUNDLE_DIR)/tests/cuda/$$(basename $$t) $$t; done
	@echo "device-bundle: $(BUNDLE_DIR) ($$(du -sh $(BUNDLE_DIR) | cut -f1)): kvbench and $(words $(BUNDLE_TESTS)) CUDA tests; needs: $$(ldd $(BUNDLE_DIR)/lib/libkvbench.so $(BUNDLE_DIR)/kvbench | grep '=>' | awk '{print $$1}' | grep -v libkvbench | sort -u | tr '\n' ' ')"
-include $(BUNDLE_TESTS:%=%.d)
endif
ifeq ($(CUDA),1)
device-bundle: $(CUDA_OBJS)
	$(Q)$(MAKE) --no-print-directory BUNDLE=1 bundle-install
else
device-bundle:
	@echo "make: device-bundle needs CUDA=1 (nvcc; this build has CUDA=0)" >&2; exit 1
endif

bench: all
	$(BUILD)/kvbench bench --model models/SmolLM2-135M-Instruct.Q4_1.gguf

format:
	clang-format -i $(C_SRCS) $(wildcard util/*.h engine/*.h harness/*/*.h kernels/*.h tests/*.c tests/*.h)

clean:
	rm -rf build

-include $(sort $(OBJS:.o=.d) $(CUDA_OBJS:.o=.d)) $(patsubst %,%.d,$(TEST_BINS) $(CUDA_TEST_BINS))
