/* cublas_api (CUDA): dlopen of libcublas and dlsym of the entry points in kv_cublas. The symbol
 * names are taken after macro expansion (cublasCreate is cublasCreate_v2 in cublas_v2.h). */
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>

#include "kernels/cuda/cublas_api.cuh"

extern "C" {
#include "kernels/cublas_load.h"
}

kv_cublas_api kv_cublas;

#define KV_STR2(x) #x
#define KV_STR(x) KV_STR2(x)
#define KV_CUBLAS_SONAME "libcublas.so." KV_STR(CUBLAS_VER_MAJOR)

static void *open_library(char *err, size_t errlen)
{
    const char *env = getenv("KVBENCH_CUBLAS_LIB");
    if (env && *env) {
        void *h = dlopen(env, RTLD_NOW | RTLD_LOCAL);
        if (!h) snprintf(err, errlen, "cannot load cuBLAS from KVBENCH_CUBLAS_LIB=%s: %s", env, dlerror());
        return h;
    }
    void *h = dlopen(KV_CUBLAS_SONAME, RTLD_NOW | RTLD_LOCAL);
    if (h) return h;
    char first[512];
    snprintf(first, sizeof first, "%s", dlerror());
    h = dlopen("/usr/local/cuda/lib64/" KV_CUBLAS_SONAME, RTLD_NOW | RTLD_LOCAL);
    if (!h)
        snprintf(err, errlen,
                 "cannot load cuBLAS (%s, the CUDA %d toolkit's): %s; set LD_LIBRARY_PATH or KVBENCH_CUBLAS_LIB",
                 KV_CUBLAS_SONAME, CUBLAS_VER_MAJOR, first);
    return h;
}

template <typename F> static int resolve(void *lib, F *slot, const char *name, char *err, size_t errlen)
{
    *slot = (F)dlsym(lib, name);
    if (*slot) return 0;
    snprintf(err, errlen, "cuBLAS library %s lacks %s: %s", KV_CUBLAS_SONAME, name, dlerror());
    return -1;
}

extern "C" int kv_cublas_load(char *err, size_t errlen)
{
    if (kv_cublas.gemm_ex) return 0;
    void *lib = open_library(err, errlen);
    if (!lib) return -1;
    kv_cublas_api a;
    if (resolve(lib, &a.create, KV_STR(cublasCreate), err, errlen) ||
        resolve(lib, &a.destroy, KV_STR(cublasDestroy), err, errlen) ||
        resolve(lib, &a.set_stream, KV_STR(cublasSetStream), err, errlen) ||
        resolve(lib, &a.get_stream, KV_STR(cublasGetStream), err, errlen) ||
        resolve(lib, &a.set_workspace, KV_STR(cublasSetWorkspace), err, errlen) ||
        resolve(lib, &a.set_math_mode, KV_STR(cublasSetMathMode), err, errlen) ||
        resolve(lib, &a.gemm_ex, KV_STR(cublasGemmEx), err, errlen) ||
        resolve(lib, &a.status_name, KV_STR(cublasGetStatusName), err, errlen) ||
        resolve(lib, &a.status_string, KV_STR(cublasGetStatusString), err, errlen)) {
        dlclose(lib);
        return -1;
    }
    kv_cublas = a;
    return 0;
}

extern "C" const char *kv_cublas_status_name(int status)
{
    return kv_cublas.status_name ? kv_cublas.status_name((cublasStatus_t)status) : "cuBLAS not loaded";
}
