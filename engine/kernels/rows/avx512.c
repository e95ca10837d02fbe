/* Softmax, row reductions, global pooling, channel affine and layer
 * normalization for AVX512 (the template in rows_tmpl.h). */
#include <math.h>

#include "engine/kernels/eml_kernels_int.h"
#include "engine/kernels/simd/vf_avx512.h"
#include "engine/kernels/simd/vmath.h"

#define RW_SFX avx512
#include "engine/kernels/rows/rows_tmpl.h"
