/* Element-wise kernels for AVX2 (the template in eltwise_tmpl.h). */
#include "enclave-agent/kernels/eml_kernels_int.h"
#include "enclave-agent/kernels/simd/vf_avx2.h"
#include "enclave-agent/kernels/simd/vmath.h"

#define EW_SFX avx2
#include "enclave-agent/kernels/eltwise/eltwise_tmpl.h"
