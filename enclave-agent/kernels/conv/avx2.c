/* Depthwise convolution for AVX2 + FMA (the template in dw_tmpl.h). */
#include <string.h>

#include "enclave-agent/kernels/eml_kernels_int.h"
#include "enclave-agent/kernels/simd/vf_avx2.h"
#include "enclave-agent/kernels/simd/vmath.h"

#define DW_NAME eml_dwconv_avx2
#include "enclave-agent/kernels/conv/dw_tmpl.h"
