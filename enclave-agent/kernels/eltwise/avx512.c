/* Element-wise kernels for AVX512 (the template in eltwise_tmpl.h). */
#include "enclave-agent/kernels/eml_kernels_int.h"
#include "enclave-agent/kernels/simd/vf_avx512.h"
#include "enclave-agent/kernels/simd/vmath.h"

#define EW_SFX avx512
#include "enclave-agent/kernels/eltwise/eltwise_tmpl.h"
