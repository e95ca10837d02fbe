/*
 * float16 conversion and int8 GEMM kernels, internal: the per-ISA entry
 * points and the int8 GEMM implementation table the driver (qgemm.c) and
 * the dispatch pick from. The engine uses eml_kernels.h only.
 */
#ifndef EML_QUANT_INT_H
#define EML_QUANT_INT_H

#include "engine/kernels/eml_kernels_int.h"

float eml_half_to_float(uint16_t h);
uint16_t eml_float_to_half(float f);

void eml_f16_to_f32_ref(size_t n, const uint16_t *x, float *y);
void eml_f32_to_f16_ref(size_t n, const float *x, uint16_t *y);
void eml_f32_round_f16_ref(size_t n, const float *x, float *y);
void eml_f16_to_f32_f16c(size_t n, const uint16_t *x, float *y);
void eml_f32_to_f16_f16c(size_t n, const float *x, uint16_t *y);
void eml_f32_round_f16_f16c(size_t n, const float *x, float *y);

void eml_qrequant_t_ref(const struct eml_qrequant *r, size_t m, size_t n, const int32_t *C,
    size_t ldc, void *y, size_t ldy);
void eml_qrequant_t_avx2(const struct eml_qrequant *r, size_t m, size_t n, const int32_t *C,
    size_t ldc, void *y, size_t ldy);
void eml_quantize_f32_ref(size_t n, const float *x, float scale, int32_t zp, int32_t lo,
    int32_t hi, bool y_signed, void *y);
void eml_quantize_f32_avx2(size_t n, const float *x, float scale, int32_t zp, int32_t lo,
    int32_t hi, bool y_signed, void *y);
void eml_dequantize_q8_ref(size_t n, const void *x, bool x_signed, int32_t zp, float scale,
    float *y);
void eml_dequantize_q8_avx2(size_t n, const void *x, bool x_signed, int32_t zp, float scale,
    float *y);
/* c[j] += K * za * zb[j] - za * colsum[j] - zb[j] * rowsum for j < n (mod 2^32) */
void eml_qgemm_fix_ref(int32_t *c, size_t n, const int32_t *zb, const int32_t *colsum,
    uint32_t rowsum, int32_t za, uint32_t K);
void eml_qgemm_fix_avx2(int32_t *c, size_t n, const int32_t *zb, const int32_t *colsum,
    uint32_t rowsum, int32_t za, uint32_t K);
void eml_u8_transpose_ref(size_t rows, size_t cols, const uint8_t *src, size_t lds,
    uint8_t *dst, size_t ldd);
void eml_u8_transpose_avx2(size_t rows, size_t cols, const uint8_t *src, size_t lds,
    uint8_t *dst, size_t ldd);

/*
 * One ISA's u8 x s8 -> s32 GEMM pieces.
 *
 * Packed B: panels of nr columns; inside a panel, k in groups of kg
 * (4: one 32-bit lane holds 4 consecutive k of one column, the layout of
 * vpmaddubsw and vpdpbusd; 2: one lane holds 2 consecutive k as int16, the
 * exact vpmaddwd fallback), so a panel is ceil(K / kg) * nr lanes.
 * Columns past N and k past K are zero.
 *
 * kernel: C[m x n] (m <= mr, n <= nr) = (A[m x K] ^ axor) x the panel as
 * u8 x s8, raw sums (no zero points), written to c with row stride ldc
 * (axor 0x80 reads int8 A as uint8 A + 128).
 * It reads exactly A[i][0 .. K) for i < m: no byte past a row.
 */
struct eml_qgemm_impl {
	const char *name;
	size_t mr, nr;
	size_t kg; /* 4 (u8 x s8 quads) or 2 (int16 pairs) */
	void (*kernel)(size_t K, const uint8_t *A, size_t lda, uint8_t axor, const void *panel,
	    int32_t *c, size_t ldc, size_t m, size_t n);
	/* optional, the same product requantized in registers: r's bias and
	 * mult start at the panel's first column, the bias with -za * colsum
	 * folded in (B symmetric), output transposed to y[j * ldy + i] */
	void (*kernel_rq)(size_t K, const uint8_t *A, size_t lda, uint8_t axor,
	    const void *panel, const struct eml_qrequant *r, uint8_t *y, size_t ldy, size_t m,
	    size_t n);
	/* optional, kernel_rq with A indirect (eml_qgemm_args.a_offs) */
	void (*kernel_rq_ind)(size_t taps, size_t run, const uint8_t *A, const int32_t *offs,
	    const uint8_t *pad, uint8_t axor, const void *panel, const struct eml_qrequant *r,
	    uint8_t *y, size_t ldy, size_t m, size_t n);
};

extern const struct eml_qgemm_impl eml_qgemm_ref;
extern const struct eml_qgemm_impl eml_qgemm_avx2_maddubs; /* quads, pairs checked safe */
extern const struct eml_qgemm_impl eml_qgemm_avx2_madd;    /* int16 pairs, always exact */
extern const struct eml_qgemm_impl eml_qgemm_avxvnni;
extern const struct eml_qgemm_impl eml_qgemm_avx512vnni;

/* Benchmarks: iters x the ISA's inner step on registers only; returns a
 * value to keep the loop alive. Ops per iteration in *ops. Only call when
 * the ISA is available. */
int32_t eml_qgemm_peak_avx2(size_t iters, double *ops);

#endif
