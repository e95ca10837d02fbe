/* Max / average pooling for AVX2 (the template in pool_tmpl.h). */
#include <string.h>

#include "engine/kernels/eml_kernels_int.h"
#include "engine/kernels/simd/vf_avx2.h"

#define PL_SFX avx2
#include "engine/kernels/pooling/pool_tmpl.h"
