/* Softmax, row reductions, global pooling, channel affine and layer
 * normalization for AVX512 (the template in rows_tmpl.h). */
#include <math.h>

#include "enclave-agent/kernels/eml_kernels_int.h"
#include "enclave-agent/kernels/simd/vf_avx512.h"
#include "enclave-agent/kernels/simd/vmath.h"

#define RW_SFX avx512
#include "enclave-agent/kernels/softmax/rows_tmpl.h"
