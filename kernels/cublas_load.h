/* cublas_load: cuBLAS opened at run time (dlopen) by the CUDA backend when it starts on a GPU,
 * instead of linked into kvbench. Why: libcublasLt's static data (~90 MiB) is written at load in
 * every process that links it, so every CPU or fake-engine rank of a CUDA build paid it (256
 * oversubscribed ranks: 23 GiB). Only builds with CUDA define these functions. */
#ifndef KV_CUBLAS_LOAD_H
#define KV_CUBLAS_LOAD_H

#include <stddef.h>

/* Opens libcublas.so.<major of the headers built against> (KVBENCH_CUBLAS_LIB overrides the path;
 * otherwise the loader's search: LD_LIBRARY_PATH, the executable's RUNPATH, ldconfig, then
 * /usr/local/cuda/lib64) and resolves what the backend calls. Idempotent. 0 on success; -1 with
 * err naming the library and the loader's reason. */
int kv_cublas_load(char *err, size_t errlen);
/* The library's own name for a status code (cublasGetStatusName); needs kv_cublas_load first. */
const char *kv_cublas_status_name(int status);

#endif
