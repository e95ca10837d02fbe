/* Depthwise convolution, implicit im2col packing and the Winograd transforms for AVX2 + FMA (dw_tmpl.h, im2col_tmpl.h, wino_tmpl.h). */
#include <string.h>

#include "engine/kernels/eml_kernels_int.h"
#include "engine/kernels/simd/vf_avx2.h"
#include "engine/kernels/simd/vmath.h"

#define DW_NAME eml_dwconv_avx2
#include "engine/kernels/conv/dw_tmpl.h"

#define IC_NAME eml_im2col_pack_avx2
#include "engine/kernels/conv/im2col_tmpl.h"

#define WI_IN eml_wino_in_avx2
#define WI_OUT eml_wino_out_avx2
#define WI_OUT_T eml_wino_out_t_avx2
#include "engine/kernels/conv/wino_tmpl.h"

#define DC_NAME eml_dconv_avx2
#define DC_PAD eml_dconv_pad_avx2
#include "engine/kernels/conv/direct_tmpl.h"
