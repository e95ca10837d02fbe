/* Element-wise kernels for AVX512 (the template in eltwise_tmpl.h). */
#include "engine/kernels/eml_kernels_int.h"
#include "engine/kernels/simd/vf_avx512.h"
#include "engine/kernels/simd/vmath.h"

#define EW_SFX avx512
#include "engine/kernels/eltwise/eltwise_tmpl.h"
