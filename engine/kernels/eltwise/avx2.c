/* Element-wise kernels for AVX2 (the template in eltwise_tmpl.h). */
#include "engine/kernels/eml_kernels_int.h"
#include "engine/kernels/simd/vf_avx2.h"
#include "engine/kernels/simd/vmath.h"

#define EW_SFX avx2
#include "engine/kernels/eltwise/eltwise_tmpl.h"
