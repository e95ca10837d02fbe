/* Depthwise convolution for AVX-512 (the template in dw_tmpl.h). */
#include <string.h>

#include "enclave-agent/kernels/eml_kernels_int.h"
#include "enclave-agent/kernels/simd/vf_avx512.h"
#include "enclave-agent/kernels/simd/vmath.h"

#define DW_NAME eml_dwconv_avx512
#include "enclave-agent/kernels/conv/dw_tmpl.h"
