/*
 * The int8 GEMM driver and the float16 conversion entry points: which
 * kernel runs (from the kernel table's ISA and CPUID's VNNI and F16C bits),
 * B packing with its column sums and zero points, and the zero-point
 * correction. Built for baseline x86-64: nothing here executes a SIMD
 * instruction of a later ISA.
 */
#include <pthread.h>
#include <string.h>

#include "engine/kernels/quant/quant_int.h"

#if EML_X86_KERNELS
#include <cpuid.h>
#endif

/* ------------------------------------------------ detection */

static pthread_once_t once = PTHREAD_ONCE_INIT;
static bool has_f16c, has_avxvnni, has_avx512vnni;
static enum eml_qisa chosen_qisa = EML_QISA_REF;

#if EML_X86_KERNELS
static void
detect_bits(void)
{
	unsigned int a, b, c, d;

	if (!__get_cpuid(1, &a, &b, &c, &d))
		return;
	/* CPUID.1:ECX bit 29 F16C (its state is the AVX state the kernel
	 * table's detection already required). */
	has_f16c = (c & (1u << 29)) != 0;
	if (__get_cpuid_max(0, NULL) < 7)
		return;
	__cpuid_count(7, 0, a, b, c, d);
	/* CPUID.(7,0):ECX bit 11 AVX512_VNNI. */
	has_avx512vnni = (c & (1u << 11)) != 0;
	__cpuid_count(7, 1, a, b, c, d);
	/* CPUID.(7,1):EAX bit 4 AVX-VNNI (VEX-encoded vpdpbusd). */
	has_avxvnni = (a & (1u << 4)) != 0;
}
#else
static void
detect_bits(void)
{
}
#endif

static void
choose(void)
{
	enum eml_isa isa = eml_kernels_get()->isa; /* honours EML_ISA */

	detect_bits();
	if (isa == EML_ISA_AVX512 && has_avx512vnni)
		chosen_qisa = EML_QISA_AVX512VNNI;
	else if ((isa == EML_ISA_AVX512 || isa == EML_ISA_AVX2) && has_avxvnni)
		chosen_qisa = EML_QISA_AVXVNNI;
	else if (isa == EML_ISA_AVX512 || isa == EML_ISA_AVX2)
		chosen_qisa = EML_QISA_AVX2;
	else
		chosen_qisa = EML_QISA_REF;
	if (isa == EML_ISA_REF)
		has_f16c = false;
}

const char *
eml_qisa_name(enum eml_qisa isa)
{
	switch (isa) {
	case EML_QISA_REF:
		return "ref";
	case EML_QISA_AVX2:
		return "avx2";
	case EML_QISA_AVXVNNI:
		return "avxvnni";
	case EML_QISA_AVX512VNNI:
		return "avx512vnni";
	}
	return "unknown";
}

enum eml_qisa
eml_qisa_get(void)
{
	(void)pthread_once(&once, choose);
	return chosen_qisa;
}

bool
eml_qisa_available(enum eml_qisa isa)
{
	enum eml_isa best = eml_cpu_best_isa();

	(void)pthread_once(&once, choose);
	switch (isa) {
	case EML_QISA_REF:
		return true;
	case EML_QISA_AVX2:
		return EML_X86_KERNELS && best >= EML_ISA_AVX2;
	case EML_QISA_AVXVNNI:
		return EML_X86_KERNELS && best >= EML_ISA_AVX2 && has_avxvnni;
	case EML_QISA_AVX512VNNI:
		return EML_X86_KERNELS && best == EML_ISA_AVX512 && has_avx512vnni;
	}
	return false;
}

/* ------------------------------------------------ float16 */

void
eml_f16_to_f32(size_t n, const uint16_t *x, float *y)
{
	(void)pthread_once(&once, choose);
#if EML_X86_KERNELS
	if (has_f16c) {
		eml_f16_to_f32_f16c(n, x, y);
		return;
	}
#endif
	eml_f16_to_f32_ref(n, x, y);
}

void
eml_f32_to_f16(size_t n, const float *x, uint16_t *y)
{
	(void)pthread_once(&once, choose);
#if EML_X86_KERNELS
	if (has_f16c) {
		eml_f32_to_f16_f16c(n, x, y);
		return;
	}
#endif
	eml_f32_to_f16_ref(n, x, y);
}

void
eml_f32_round_f16(size_t n, const float *x, float *y)
{
	(void)pthread_once(&once, choose);
#if EML_X86_KERNELS
	if (has_f16c) {
		eml_f32_round_f16_f16c(n, x, y);
		return;
	}
#endif
	eml_f32_round_f16_ref(n, x, y);
}

/* ------------------------------------------------ requantization */

void
eml_qrequant_t(const struct eml_qrequant *r, size_t m, size_t n, const int32_t *C, size_t ldc,
    void *y, size_t ldy)
{
#if EML_X86_KERNELS
	if (eml_qisa_get() != EML_QISA_REF) {
		eml_qrequant_t_avx2(r, m, n, C, ldc, y, ldy);
		return;
	}
#endif
	eml_qrequant_t_ref(r, m, n, C, ldc, y, ldy);
}

void
eml_quantize_f32(size_t n, const float *x, float scale, int32_t zp, int32_t lo, int32_t hi,
    bool y_signed, void *y)
{
#if EML_X86_KERNELS
	if (eml_qisa_get() != EML_QISA_REF) {
		eml_quantize_f32_avx2(n, x, scale, zp, lo, hi, y_signed, y);
		return;
	}
#endif
	eml_quantize_f32_ref(n, x, scale, zp, lo, hi, y_signed, y);
}

void
eml_dequantize_q8(size_t n, const void *x, bool x_signed, int32_t zp, float scale, float *y)
{
#if EML_X86_KERNELS
	if (eml_qisa_get() != EML_QISA_REF) {
		eml_dequantize_q8_avx2(n, x, x_signed, zp, scale, y);
		return;
	}
#endif
	eml_dequantize_q8_ref(n, x, x_signed, zp, scale, y);
}

void
eml_u8_transpose(size_t rows, size_t cols, const uint8_t *src, size_t lds, uint8_t *dst,
    size_t ldd)
{
#if EML_X86_KERNELS
	if (eml_qisa_get() != EML_QISA_REF) {
		eml_u8_transpose_avx2(rows, cols, src, lds, dst, ldd);
		return;
	}
#endif
	eml_u8_transpose_ref(rows, cols, src, lds, dst, ldd);
}

/* ------------------------------------------------ packing */

/* The packed buffer: this header, int32 column sums[N] and zero
 * points[N] (B's values as int8: uint8 B is stored minus 128), each
 * padded to 64 bytes, then the panels. */
struct qhdr {
	uint32_t magic;
	uint32_t impl;
	uint64_t K, N;
	uint64_t panel_bytes;
	uint64_t panels_off;
	uint32_t zb_zero; /* every zero point of B is 0 (symmetric weights) */
	uint8_t pad[20];
};

#define QMAGIC 0x51474d31u /* "QGM1" */

static const struct eml_qgemm_impl *const impls[] = {
	&eml_qgemm_ref,
#if EML_X86_KERNELS
	&eml_qgemm_avx2_maddubs,
	&eml_qgemm_avx2_madd,
	&eml_qgemm_avxvnni,
	&eml_qgemm_avx512vnni,
#endif
};
#define N_IMPLS (sizeof(impls) / sizeof(impls[0]))

static size_t
up64(size_t n)
{
	return (n + 63) & ~(size_t)63;
}

static size_t
panel_bytes(const struct eml_qgemm_impl *g, size_t K)
{
	return (K + g->kg - 1) / g->kg * g->nr * 4;
}

static size_t
impl_size(const struct eml_qgemm_impl *g, size_t K, size_t N)
{
	return up64(sizeof(struct qhdr)) + 2 * up64(N * 4) +
	    (N + g->nr - 1) / g->nr * panel_bytes(g, K);
}

size_t
eml_qgemm_packed_size(enum eml_qisa isa, size_t K, size_t N)
{
	size_t best = 0;

	/* Every impl the ISA may pick (AVX2 picks by B's values). */
	for (size_t i = 0; i < N_IMPLS; i++) {
		size_t s = impl_size(impls[i], K, N);
		if (s > best)
			best = s;
	}
	(void)isa;
	return best;
}

static int32_t
b_at(const void *B, size_t ldb, bool trans_b, bool b_signed, size_t k, size_t n)
{
	size_t off = trans_b ? n * ldb + k : k * ldb + n;

	if (b_signed)
		return ((const int8_t *)B)[off];
	return (int32_t)((const uint8_t *)B)[off] - 128;
}

/* Whether vpmaddubsw's int16 pair sums cannot saturate for any uint8 A:
 * the pairs (k, k + 1) of each quad, k even. */
static bool
pairs_safe(size_t K, size_t N, const void *B, size_t ldb, bool trans_b, bool b_signed)
{
	for (size_t n = 0; n < N; n++)
		for (size_t k = 0; k < K; k += 2) {
			int32_t b0 = b_at(B, ldb, trans_b, b_signed, k, n);
			int32_t b1 = k + 1 < K ? b_at(B, ldb, trans_b, b_signed, k + 1, n) : 0;
			int32_t pos = (b0 > 0 ? b0 : 0) + (b1 > 0 ? b1 : 0);
			int32_t neg = (b0 < 0 ? b0 : 0) + (b1 < 0 ? b1 : 0);
			if (pos > 128 || neg < -128)
				return false;
		}
	return true;
}

static uint32_t
pick_impl(enum eml_qisa isa, size_t K, size_t N, const void *B, size_t ldb, bool trans_b,
    bool b_signed)
{
	const struct eml_qgemm_impl *want = &eml_qgemm_ref;

#if EML_X86_KERNELS
	if (isa == EML_QISA_AVX512VNNI)
		want = &eml_qgemm_avx512vnni;
	else if (isa == EML_QISA_AVXVNNI)
		want = &eml_qgemm_avxvnni;
	else if (isa == EML_QISA_AVX2)
		want = pairs_safe(K, N, B, ldb, trans_b, b_signed) ? &eml_qgemm_avx2_maddubs :
								    &eml_qgemm_avx2_madd;
#else
	(void)isa;
	(void)K;
	(void)N;
	(void)B;
	(void)ldb;
	(void)trans_b;
	(void)b_signed;
#endif
	for (uint32_t i = 0; i < N_IMPLS; i++)
		if (impls[i] == want)
			return i;
	return 0;
}

void
eml_qgemm_pack(enum eml_qisa isa, size_t K, size_t N, const void *B, size_t ldb,
    bool trans_b, bool b_signed, const void *zb, size_t n_zb, void *packed)
{
	struct qhdr h;
	uint8_t *base = packed;
	int32_t *cs = (int32_t *)(void *)(base + up64(sizeof(h)));
	int32_t *zp = (int32_t *)(void *)(base + up64(sizeof(h)) + up64(N * 4));
	const struct eml_qgemm_impl *g;
	size_t pb;

	memset(&h, 0, sizeof(h));
	h.magic = QMAGIC;
	h.impl = pick_impl(isa, K, N, B, ldb, trans_b, b_signed);
	g = impls[h.impl];
	pb = panel_bytes(g, K);
	h.K = K;
	h.N = N;
	h.panel_bytes = pb;
	h.panels_off = up64(sizeof(h)) + 2 * up64(N * 4);
	memset(base, 0, impl_size(g, K, N));
	memcpy(base, &h, sizeof(h));
	for (size_t n = 0; n < N; n++) {
		int32_t s = 0;
		for (size_t k = 0; k < K; k++)
			s += b_at(B, ldb, trans_b, b_signed, k, n);
		cs[n] = s;
		zp[n] = zb == NULL ? (b_signed ? 0 : -128) :
				     b_at(zb, 0, false, b_signed, 0, n_zb == 1 ? 0 : n);
	}
	h.zb_zero = 1;
	for (size_t n = 0; n < N; n++)
		if (zp[n] != 0)
			h.zb_zero = 0;
	memcpy(base, &h, sizeof(h));
	for (size_t n = 0; n < N; n++) {
		uint8_t *panel = base + h.panels_off + (n / g->nr) * pb;
		size_t j = n % g->nr;
		for (size_t k = 0; k < K; k++) {
			int32_t v = b_at(B, ldb, trans_b, b_signed, k, n);
			size_t lane = (k / g->kg) * g->nr + j;
			if (g->kg == 4) {
				panel[lane * 4 + k % 4] = (uint8_t)(int8_t)v;
			} else {
				int16_t w = (int16_t)v;
				memcpy(panel + lane * 4 + (k % 2) * 2, &w, 2);
			}
		}
	}
}

bool
eml_qgemm_indirect_ok(const void *packed, size_t taps)
{
	struct qhdr h;

	memcpy(&h, packed, sizeof(h));
	return h.magic == QMAGIC && h.impl < N_IMPLS && impls[h.impl]->kernel_rq_ind != NULL &&
	    impls[h.impl]->nr <= 64 && impls[h.impl]->mr == EML_QIND_ROWS && h.zb_zero && taps > 0 && h.K % taps == 0 &&
	    (h.K / taps) % 4 == 0;
}

const char *
eml_qgemm_kernel_name(const void *packed)
{
	struct qhdr h;

	memcpy(&h, packed, sizeof(h));
	if (h.magic != QMAGIC || h.impl >= N_IMPLS)
		return "invalid";
	return impls[h.impl]->name;
}

/* ------------------------------------------------ running */

/* Rows per task of the requantizing path (a multiple of every kernel's mr
 * up to 8): the output is transposed (channel-major), so a task of 8 rows
 * wrote 8 bytes of each channel's row and two threads taking neighbouring
 * tasks wrote the same cache lines; 64 rows are a whole line per channel. */
#define RQ_ROWS 64

struct qrun {
	const struct eml_qgemm_impl *g;
	const struct qhdr *h;
	const uint8_t *base;
	const struct eml_qgemm_args *a;
	size_t nblocks;
	size_t rows, nchunks; /* the requantizing path's row chunks */
};

/* Whether the requantizing kernel runs: B symmetric and one A zero point
 * (the correction is then -za * colsum[j] per column, folded into the
 * bias), or an indirect A (only given where that holds). */
static bool
use_rq(const struct qrun *r)
{
	const struct eml_qgemm_args *a = r->a;

	return a->a_offs != NULL || (a->rq != NULL && r->g->kernel_rq != NULL && r->h->zb_zero &&
					 a->n_za == 1 && r->g->nr <= 64);
}

/* Task = one panel (nr output channels) x one chunk of r->rows rows,
 * the panel's bias computed once for the chunk's blocks of mr rows,
 * which run back to back on the panel while it is in L1. */
static void
qgemm_task_rq(void *arg, size_t task, int thread)
{
	const struct qrun *r = arg;
	const struct eml_qgemm_args *a = r->a;
	const struct eml_qgemm_impl *g = r->g;
	size_t K = (size_t)r->h->K, N = (size_t)r->h->N;
	size_t n0 = task / r->nchunks * g->nr, c0 = task % r->nchunks * r->rows;
	size_t n = N - n0 < g->nr ? N - n0 : g->nr;
	size_t c1 = a->M - c0 < r->rows ? a->M : c0 + r->rows;
	uint8_t axor = a->a_signed ? 0x80 : 0;
	const int32_t *cs = (const int32_t *)(const void *)(r->base + up64(sizeof(struct qhdr)));
	uint32_t za = (uint32_t)(a->za[0] + (a->a_signed ? 128 : 0));
	const uint8_t *panel = r->base + r->h->panels_off + (n0 / g->nr) * r->h->panel_bytes;
	int32_t bias[64] EML_NOINIT; /* [0, n) set below, read masked to n */
	struct eml_qrequant t = *a->rq;

	(void)thread;
	t.bias = bias;
	t.mult = a->rq->mult + n0;
	for (size_t j = 0; j < n; j++)
		bias[j] = (int32_t)((a->rq->bias != NULL ? (uint32_t)a->rq->bias[n0 + j] : 0) -
		    za * (uint32_t)cs[n0 + j]);
	for (size_t i0 = c0; i0 < c1; i0 += g->mr) {
		size_t m = c1 - i0 < g->mr ? c1 - i0 : g->mr;
		uint8_t *y = (uint8_t *)a->y + (a->rq->rows ? i0 * a->ldy + n0 : n0 * a->ldy + i0);
		if (a->a_offs != NULL)
			g->kernel_rq_ind(a->taps, K / a->taps, a->A, a->a_offs + eml_qind_at(i0, 0, a->taps),
			    a->a_pad, axor, panel, &t, y, a->ldy, m, n);
		else
			g->kernel_rq(K, (const uint8_t *)a->A + i0 * a->lda, a->lda, axor, panel, &t,
			    y, a->ldy, m, n);
	}
}

/* Rows [i0, i0 + m) against every panel, then the zero points:
 * sum (a - za)(b - zb) = raw - zb * rowsum(a) - za * colsum(b) + K za zb,
 * all modulo 2^32. */
static void
qgemm_task(void *arg, size_t task, int thread)
{
	const struct qrun *r = arg;
	const struct eml_qgemm_args *a = r->a;
	const struct eml_qgemm_impl *g = r->g;
	size_t K = (size_t)r->h->K, N = (size_t)r->h->N;
	size_t i0 = task * g->mr;
	size_t m = a->M - i0 < g->mr ? a->M - i0 : g->mr;
	uint8_t axor = a->a_signed ? 0x80 : 0;
	const uint8_t *A = (const uint8_t *)a->A + i0 * a->lda;
	const int32_t *cs = (const int32_t *)(const void *)(r->base + up64(sizeof(struct qhdr)));
	const int32_t *zp = cs + up64(N * 4) / 4;

	(void)thread;
	for (size_t n0 = 0; n0 < N; n0 += g->nr) {
		size_t n = N - n0 < g->nr ? N - n0 : g->nr;
		g->kernel(K, A, a->lda, axor, r->base + r->h->panels_off + (n0 / g->nr) * r->h->panel_bytes,
		    a->C + i0 * a->ldc + n0, a->ldc, m, n);
	}
	for (size_t i = 0; i < m; i++) {
		int32_t za = a->za[a->n_za == 1 ? 0 : i0 + i] + (a->a_signed ? 128 : 0);
		uint32_t rs = 0;
		int32_t *c = a->C + (i0 + i) * a->ldc;
		/* symmetric B and a zero A zero point (in u8 terms): raw is exact */
		if (r->h->zb_zero && za == 0)
			continue;
		for (size_t k = 0; k < K && !r->h->zb_zero; k++)
			rs += (uint32_t)(A[i * a->lda + k] ^ axor);
#if EML_X86_KERNELS
		if (r->g != &eml_qgemm_ref) {
			eml_qgemm_fix_avx2(c, N, zp, cs, rs, za, (uint32_t)K);
			continue;
		}
#endif
		eml_qgemm_fix_ref(c, N, zp, cs, rs, za, (uint32_t)K);
	}
	if (a->rq != NULL)
		eml_qrequant_t(a->rq, m, N, a->C + i0 * a->ldc, a->ldc,
		    (uint8_t *)a->y + (a->rq->rows ? i0 * a->ldy : i0), a->ldy);
}

/* The step's cost in the pool's flop-equivalents (eml_pool_for): 2 M N K
 * over the kernel's int8 rate against a float FMA's (one zmm vpdpbusd
 * is 64 multiply-adds where a zmm FMA is 16; a ymm one 32 against 8 at
 * half the width of the float kernels it is compared with), plus the
 * requantization, about 8 per output. */
static double
qgemm_work(const struct qrun *r)
{
	const struct eml_qgemm_args *a = r->a;
	double per = r->g == &eml_qgemm_avx512vnni ? 4.0 : r->g == &eml_qgemm_avxvnni ? 2.0 : 1.0;
	double mn = (double)a->M * (double)r->h->N;

	return 2.0 * mn * (double)r->h->K / per + (a->rq != NULL ? 8.0 * mn : 0.0);
}

void
eml_qgemm(const void *packed, const struct eml_qgemm_args *a, struct eml_pool *pool)
{
	struct qhdr h;
	struct qrun r;

	memcpy(&h, packed, sizeof(h));
	r.g = impls[h.impl < N_IMPLS ? h.impl : 0];
	r.h = &h;
	r.base = packed;
	r.a = a;
	r.nblocks = (a->M + r.g->mr - 1) / r.g->mr;
	pool = eml_pool_for(pool, qgemm_work(&r));
	if (eml_pool_size(pool) <= 1)
		pool = NULL;
	if (use_rq(&r)) {
		size_t npanels = ((size_t)h.N + r.g->nr - 1) / r.g->nr;
		r.rows = (RQ_ROWS + r.g->mr - 1) / r.g->mr * r.g->mr;
		r.nchunks = (a->M + r.rows - 1) / r.rows;
		eml_pool_run(pool, npanels * r.nchunks, qgemm_task_rq, &r);
		return;
	}
	eml_pool_run(r.nblocks > 1 ? pool : NULL, r.nblocks, qgemm_task, &r);
}
