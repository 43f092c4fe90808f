/* cublas_api (CUDA): the cuBLAS entry points the backend and matmul use, as pointers resolved by
 * kv_cublas_load (kernels/cublas_load.h says why cuBLAS is opened at run time). The types come from
 * cublas_v2.h, so a call through kv_cublas is checked exactly like a direct call. */
#ifndef KV_CUDA_CUBLAS_API_CUH
#define KV_CUDA_CUBLAS_API_CUH

#include <cublas_v2.h>

struct kv_cublas_api {
    decltype(&cublasCreate) create;
    decltype(&cublasDestroy) destroy;
    decltype(&cublasSetStream) set_stream;
    decltype(&cublasGetStream) get_stream;
    decltype(&cublasSetWorkspace) set_workspace;
    decltype(&cublasSetMathMode) set_math_mode;
    /* the C entry point; cublas_api.h adds a C++ overload taking cudaDataType as compute type */
    cublasStatus_t(CUBLASWINAPI *gemm_ex)(cublasHandle_t, cublasOperation_t, cublasOperation_t, int, int, int,
                                         const void *, const void *, cudaDataType, int, const void *,
                                         cudaDataType, int, const void *, void *, cudaDataType, int,
                                         cublasComputeType_t, cublasGemmAlgo_t);
    decltype(&cublasGetStatusName) status_name;
    decltype(&cublasGetStatusString) status_string;
};
extern kv_cublas_api kv_cublas;

#endif
