/* Max / average pooling for AVX512 (the template in pool_tmpl.h). */
#include <string.h>

#include "enclave-agent/kernels/eml_kernels_int.h"
#include "enclave-agent/kernels/simd/vf_avx512.h"

#define PL_SFX avx512
#include "enclave-agent/kernels/pool/pool_tmpl.h"
