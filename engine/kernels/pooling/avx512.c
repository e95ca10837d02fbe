/* Max / average pooling for AVX512 (the template in pool_tmpl.h). */
#include <string.h>

#include "engine/kernels/eml_kernels_int.h"
#include "engine/kernels/simd/vf_avx512.h"

#define PL_SFX avx512
#include "engine/kernels/pooling/pool_tmpl.h"
