/* Depthwise convolution and implicit im2col packing for AVX-512 (the template in dw_tmpl.h). */
#include <string.h>

#include "enclave-agent/kernels/eml_kernels_int.h"
#include "enclave-agent/kernels/simd/vf_avx512.h"
#include "enclave-agent/kernels/simd/vmath.h"

#define DW_NAME eml_dwconv_avx512
#include "enclave-agent/kernels/conv/dw_tmpl.h"

#define IC_NAME eml_im2col_pack_avx512
#include "enclave-agent/kernels/conv/im2col_tmpl.h"
