/*
 * float16 conversion and the int8 GEMM kernels against their oracles.
 *
 * float16: the scalar conversion is checked on known values, every one of
 * the 65536 halves round-trips, and the dispatched (F16C) conversion gives
 * the scalar one's bits on every half and on random and edge floats.
 *
 * int8 GEMM: the scalar kernel (EML_QISA_REF) against the definition
 * sum (a - za)(b - zb) in 64-bit, then every SIMD variant against the
 * scalar kernel on ragged shapes (M, N, K not multiples of the tiles),
 * int8/uint8 A and B, scalar, per-row and per-column zero points, B in
 * the range where AVX2 may use vpmaddubsw and B where it must not.
 * Variants this CPU lacks (AVX-VNNI, AVX-512 VNNI here) are skipped.
 */
#include <stdlib.h>

#include "kernels_util.h"

/* ------------------------------------------------ float16 */

static uint16_t
to_half_ref(float f)
{
	uint16_t h;

	eml_f32_to_f16(1, &f, &h); /* checked against known bits below */
	return h;
}

static void
half_known_values(void **state)
{
	static const struct {
		float f;
		uint16_t h;
	} kv[] = {
		{ 1.0f, 0x3c00 }, { -2.0f, 0xc000 }, { 65504.0f, 0x7bff },
		{ 65519.99f, 0x7bff }, { 65520.0f, 0x7c00 }, { 1e9f, 0x7c00 },
		{ 0x1p-24f, 0x0001 }, { 0x1p-25f, 0x0000 },      /* tie to even: 0 */
		{ 0x1.8p-24f, 0x0002 },                           /* tie to even: 2 */
		{ 0x1p-14f, 0x0400 }, { 0.333333343f, 0x3555 }, { -0.0f, 0x8000 },
		{ 1.00048828125f, 0x3c00 },                       /* tie down to even */
		{ 1.00146484375f, 0x3c02 },                       /* tie up to even */
	};

	(void)state;
	for (size_t i = 0; i < sizeof(kv) / sizeof(kv[0]); i++) {
		uint16_t h = to_half_ref(kv[i].f);
		float back;
		if (h != kv[i].h)
			fail_msg("%a -> %04x, want %04x", (double)kv[i].f, h, kv[i].h);
		eml_f16_to_f32(1, &h, &back);
		if (i < 3 || i == 6 || i == 9)
			assert_true(back == kv[i].f);
	}
	{
		float inf = INFINITY, nan = NAN, y;
		uint16_t h;
		eml_f32_to_f16(1, &inf, &h);
		assert_int_equal(h, 0x7c00);
		eml_f32_to_f16(1, &nan, &h);
		assert_int_equal(h & 0x7c00, 0x7c00);
		assert_true((h & 0x3ff) != 0);
		eml_f16_to_f32(1, &h, &y);
		assert_true(y != y);
	}
}

static float
from_bits(uint32_t u)
{
	float f;

	memcpy(&f, &u, 4);
	return f;
}

/* bfloat16: the upper half of float32, rounded to nearest even (bits worked
 * by hand), NaN kept a NaN even when its payload lies in the dropped half,
 * widening exact for every one of the 65536 patterns, and round = narrow
 * then widen. */
static void
bf16_known_values(void **state)
{
	static const struct {
		uint32_t f;
		uint16_t b;
	} kv[] = {
		{ 0x3f800000, 0x3f80 }, /* 1.0 */
		{ 0x3effd6b2, 0x3f00 }, /* dropped half 0xd6b2 > 0x8000: up (carry into exponent) */
		{ 0x3ef535b8, 0x3ef5 }, /* below the half: down */
		{ 0x3f808000, 0x3f80 }, /* tie, even kept */
		{ 0x3f818000, 0x3f82 }, /* tie, odd rounded up to even */
		{ 0xbf818000, 0xbf82 }, /* negative tie */
		{ 0x7f7fffff, 0x7f80 }, /* largest float rounds to infinity */
		{ 0x7f800000, 0x7f80 }, /* infinity */
		{ 0x00000001, 0x0000 }, /* smallest subnormal: down to zero */
		{ 0x80000000, 0x8000 }, /* -0 */
	};
	uint16_t *b = eml_alloc(65536 * 2), *b2 = eml_alloc(65536 * 2);
	float *f = eml_alloc(65536 * 4);

	(void)state;
	for (size_t i = 0; i < sizeof(kv) / sizeof(kv[0]); i++) {
		float x = from_bits(kv[i].f), r;
		uint16_t h;
		eml_f32_to_bf16(1, &x, &h);
		if (h != kv[i].b)
			fail_msg("%08x -> %04x, want %04x", kv[i].f, h, kv[i].b);
		eml_f32_round_bf16(1, &x, &r);
		assert_true(memcmp(&r, &(uint32_t){ (uint32_t)kv[i].b << 16 }, 4) == 0);
	}
	{
		float nan = from_bits(0x7f800001); /* payload only in the low half */
		uint16_t h;
		eml_f32_to_bf16(1, &nan, &h);
		assert_int_equal(h & 0x7f80, 0x7f80);
		assert_true((h & 0x7f) != 0);
	}
	assert_non_null(b);
	assert_non_null(b2);
	assert_non_null(f);
	for (uint32_t i = 0; i < 65536; i++)
		b[i] = (uint16_t)i;
	eml_bf16_to_f32(65536, b, f);
	eml_f32_to_bf16(65536, f, b2);
	for (uint32_t i = 0; i < 65536; i++) {
		uint32_t u;
		memcpy(&u, &f[i], 4);
		assert_int_equal(u, i << 16);
		if ((i & 0x7f80) == 0x7f80 && (i & 0x7f) != 0)
			assert_true((b2[i] & 0x7f) != 0 && (b2[i] & 0x7f80) == 0x7f80);
		else if (b2[i] != b[i])
			fail_msg("bfloat16 %04x -> %a -> %04x", i, (double)f[i], b2[i]);
	}
	eml_free(b);
	eml_free(b2);
	eml_free(f);
}

/* Every half: to float and back is the identity (NaN stays NaN), and the
 * dispatched conversion equals the scalar one. */
static void
half_all_round_trip(void **state)
{
	uint16_t *h = eml_alloc(65536 * 2), *h2 = eml_alloc(65536 * 2);
	float *f = eml_alloc(65536 * 4);

	(void)state;
	assert_non_null(h);
	assert_non_null(h2);
	assert_non_null(f);
	for (uint32_t i = 0; i < 65536; i++)
		h[i] = (uint16_t)i;
	eml_f16_to_f32(65536, h, f);
	eml_f32_to_f16(65536, f, h2);
	for (uint32_t i = 0; i < 65536; i++) {
		bool nan = (i & 0x7c00) == 0x7c00 && (i & 0x3ff) != 0;
		if (nan) {
			assert_true(f[i] != f[i]);
			continue;
		}
		if (h2[i] != h[i])
			fail_msg("half %04x -> %a -> %04x", i, (double)f[i], h2[i]);
	}
	eml_free(h);
	eml_free(h2);
	eml_free(f);
}

/* The scalar and the F16C conversions give the same bits on random float
 * bit patterns (all exponents), with ragged lengths for the tails. */
static void
half_simd_matches_scalar(void **state)
{
	uint64_t st = 7;
	size_t n = 100003;
	float *x = eml_alloc(n * 4), *r1 = eml_alloc(n * 4), *r2 = eml_alloc(n * 4);
	uint16_t *a = eml_alloc(n * 2), *b = eml_alloc(n * 2);
	float *fa = eml_alloc(n * 4), *fb = eml_alloc(n * 4);

	(void)state;
	assert_true(x && r1 && r2 && a && b && fa && fb);
	for (size_t i = 0; i < n; i++) {
		uint32_t u = (uint32_t)eml_test_rand(&st);
		if (i % 3 == 0) /* concentrate on the half range */
			u = (u & 0x807fffffu) | ((uint32_t)(100 + u % 45) << 23);
		memcpy(&x[i], &u, 4);
	}
	for (size_t len = 1; len <= 40; len++) {
		memset(a, 0, 80);
		eml_f32_to_f16(len, x, a);
		for (size_t i = 0; i < len; i++)
			assert_int_equal(a[i], to_half_ref(x[i]));
	}
	eml_f32_to_f16(n, x, a);
	for (size_t i = 0; i < n; i++) {
		b[i] = to_half_ref(x[i]);
		bool nan = x[i] != x[i];
		if (nan)
			assert_int_equal(a[i] & 0x7c00, 0x7c00);
		else if (a[i] != b[i])
			fail_msg("%a: %04x vs scalar %04x", (double)x[i], a[i], b[i]);
	}
	eml_f32_round_f16(n, x, r1);
	eml_f16_to_f32(n, a, r2);
	for (size_t i = 0; i < n; i++)
		assert_true(r1[i] == r2[i] || (r1[i] != r1[i] && r2[i] != r2[i]));
	eml_free(x);
	eml_free(r1);
	eml_free(r2);
	eml_free(a);
	eml_free(b);
	eml_free(fa);
	eml_free(fb);
}

/* ------------------------------------------------ int8 GEMM */

struct qcase {
	size_t M, N, K;
	bool a_signed, b_signed, trans_b;
	bool za_rows, zb_cols;
	int brange; /* B values within +-brange of the type's middle */
};

static void
fill_bytes(uint64_t *st, uint8_t *p, size_t n, bool is_signed, int range)
{
	for (size_t i = 0; i < n; i++) {
		int v = (int)(eml_test_rand(st) % (uint64_t)(2 * range + 1)) - range;
		if (v > 127)
			v = 127;
		p[i] = is_signed ? (uint8_t)(int8_t)v : (uint8_t)(v + 128);
	}
}

static int32_t
val_of(const uint8_t *p, size_t i, bool is_signed)
{
	return is_signed ? (int32_t)(int8_t)p[i] : (int32_t)p[i];
}

/* C from isa, or false when this CPU lacks it. */
static bool
run_isa(enum eml_qisa isa, const struct qcase *c, const uint8_t *A, const uint8_t *B,
    const int32_t *za, const uint8_t *zb, int32_t *C, char *kname, size_t kn)
{
	size_t sz;
	void *packed;
	struct eml_qgemm_args a;

	if (!eml_qisa_available(isa))
		return false;
	sz = eml_qgemm_packed_size(isa, c->K, c->N);
	packed = eml_secure_alloc(sz);
	assert_non_null(packed);
	eml_qgemm_pack(isa, c->K, c->N, B, c->trans_b ? c->K : c->N, c->trans_b, c->b_signed, zb,
	    c->zb_cols ? c->N : 1, packed);
	(void)snprintf(kname, kn, "%s", eml_qgemm_kernel_name(packed));
	memset(&a, 0, sizeof(a));
	a.M = c->M;
	a.A = A;
	a.lda = c->K;
	a.a_signed = c->a_signed;
	a.za = za;
	a.n_za = c->za_rows ? c->M : 1;
	a.C = C;
	a.ldc = c->N + 3; /* a row stride wider than N: nothing written past N */
	eml_qgemm(packed, &a, NULL);
	eml_secure_free(packed);
	return true;
}

static void
check_case(enum eml_qisa isa, const struct qcase *c, uint64_t *st)
{
	size_t ldc = c->N + 3;
	uint8_t *A = eml_alloc(c->M * c->K), *B = eml_alloc(c->K * c->N);
	int32_t *za = eml_alloc(c->M * 4);
	uint8_t *zb = eml_alloc(c->N);
	int32_t *Cr = eml_alloc(c->M * ldc * 4), *Ci = eml_alloc(c->M * ldc * 4);
	char kname[32];

	assert_true(A && B && za && zb && Cr && Ci);
	fill_bytes(st, A, c->M * c->K, c->a_signed, 128);
	fill_bytes(st, B, c->K * c->N, c->b_signed, c->brange);
	for (size_t i = 0; i < c->M; i++)
		za[i] = (int32_t)(eml_test_rand(st) % 256) - (c->a_signed ? 128 : 0);
	for (size_t j = 0; j < c->N; j++)
		zb[j] = (uint8_t)(eml_test_rand(st) % 256);
	if (c->brange == 64) /* symmetric weights: the zero-point pass skips rows */
		memset(zb, c->b_signed ? 0 : 128, c->N);
	memset(Cr, 0x5a, c->M * ldc * 4);
	memset(Ci, 0x5a, c->M * ldc * 4);
	assert_true(run_isa(EML_QISA_REF, c, A, B, za, zb, Cr, kname, sizeof(kname)));
	/* the oracle itself against the definition */
	for (size_t i = 0; i < c->M; i++)
		for (size_t j = 0; j < c->N; j++) {
			int64_t s = 0;
			int32_t a0 = za[c->za_rows ? i : 0];
			int32_t b0 = val_of(zb, c->zb_cols ? j : 0, c->b_signed);
			for (size_t k = 0; k < c->K; k++) {
				size_t bi = c->trans_b ? j * c->K + k : k * c->N + j;
				s += (int64_t)(val_of(A, i * c->K + k, c->a_signed) - a0) *
				    (val_of(B, bi, c->b_signed) - b0);
			}
			if ((int32_t)s != Cr[i * ldc + j])
				fail_msg("ref M%zu N%zu K%zu [%zu,%zu] = %d, want %lld", c->M, c->N,
				    c->K, i, j, Cr[i * ldc + j], (long long)s);
		}
	if (isa != EML_QISA_REF && run_isa(isa, c, A, B, za, zb, Ci, kname, sizeof(kname))) {
		if (memcmp(Cr, Ci, c->M * ldc * 4) != 0)
			fail_msg("%s (%s) differs from ref: M%zu N%zu K%zu as%d bs%d tb%d",
			    eml_qisa_name(isa), kname, c->M, c->N, c->K, c->a_signed, c->b_signed,
			    c->trans_b);
		if (isa == EML_QISA_AVX2 && c->brange <= 64)
			assert_string_equal(kname, "avx2-maddubs");
	}
	eml_free(A);
	eml_free(B);
	eml_free(za);
	eml_free(zb);
	eml_free(Cr);
	eml_free(Ci);
}

static void
qgemm_all(enum eml_qisa isa)
{
	static const size_t Ms[] = { 1, 3, 4, 5, 9, 13 };
	static const size_t Ns[] = { 1, 7, 16, 17, 33, 50 };
	static const size_t Ks[] = { 1, 2, 3, 4, 5, 31, 64, 131 };
	uint64_t st = 42 + (uint64_t)isa;
	size_t t = 0;

	if (!eml_qisa_available(isa))
		skip();
	for (size_t mi = 0; mi < 6; mi++)
		for (size_t ni = 0; ni < 6; ni++)
			for (size_t ki = 0; ki < 8; ki++, t++) {
				struct qcase c = { Ms[mi], Ns[ni], Ks[ki], (t & 1) != 0, (t & 2) != 0,
					(t & 4) != 0, (t & 8) != 0, (t & 16) != 0,
					(t % 3) == 0 ? 64 : 128 };
				check_case(isa, &c, &st);
			}
}

static void qgemm_ref(void **state) { (void)state; qgemm_all(EML_QISA_REF); }
static void qgemm_avx2(void **state) { (void)state; qgemm_all(EML_QISA_AVX2); }
static void qgemm_avxvnni(void **state) { (void)state; qgemm_all(EML_QISA_AVXVNNI); }
static void qgemm_avx512vnni(void **state) { (void)state; qgemm_all(EML_QISA_AVX512VNNI); }

/* The saturation boundary of vpmaddubsw: A = 255 everywhere, B pairs whose
 * positive part sums to 128 (255 * 128 = 32640 fits int16) use
 * vpmaddubsw; 129 (32895 would saturate at 32767) must not, and both give
 * the exact sum. */
static void
qgemm_avx2_saturation_boundary(void **state)
{
	/* {even k, odd k, kernel}: positive pair sums 128 / 129, negative
	 * -128 / -129 */
	static const struct {
		int8_t b0, b1;
		const char *kernel;
	} cases[] = {
		{ 127, 1, "avx2-maddubs" }, { 127, 2, "avx2-madd" },
		{ -128, 0, "avx2-maddubs" }, { -128, -1, "avx2-madd" },
		{ 64, 64, "avx2-maddubs" }, { 65, 64, "avx2-madd" },
	};
	uint8_t A[8], B[8];
	int32_t C[1], z = 0;
	struct eml_qgemm_args a;

	(void)state;
	if (!eml_qisa_available(EML_QISA_AVX2))
		skip();
	memset(A, 255, sizeof(A));
	for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
		void *packed = eml_secure_alloc(eml_qgemm_packed_size(EML_QISA_AVX2, 8, 1));
		assert_non_null(packed);
		for (size_t k = 0; k < 8; k++)
			B[k] = (uint8_t)(k % 2 == 0 ? cases[c].b0 : cases[c].b1);
		eml_qgemm_pack(EML_QISA_AVX2, 8, 1, B, 1, false, true, NULL, 1, packed);
		assert_string_equal(eml_qgemm_kernel_name(packed), cases[c].kernel);
		memset(&a, 0, sizeof(a));
		a.M = 1;
		a.A = A;
		a.lda = 8;
		a.za = &z;
		a.n_za = 1;
		a.C = C;
		a.ldc = 1;
		eml_qgemm(packed, &a, NULL);
		assert_int_equal(C[0], 4 * 255 * (cases[c].b0 + cases[c].b1));
		eml_secure_free(packed);
	}
}

/* Threads split rows; the result is the single-thread one, bit for bit. */
static void
qgemm_threads(void **state)
{
	struct eml_pool *pool = NULL;
	uint64_t st = 9;
	size_t M = 37, N = 45, K = 77;
	uint8_t *A = eml_alloc(M * K), *B = eml_alloc(K * N);
	int32_t *C1 = eml_alloc(M * N * 4), *C2 = eml_alloc(M * N * 4), za = 3;
	int8_t zb = -5;
	void *packed;
	struct eml_qgemm_args a;
	enum eml_qisa isa = eml_qisa_get();

	(void)state;
	assert_true(A && B && C1 && C2);
	fill_bytes(&st, A, M * K, false, 128);
	fill_bytes(&st, B, K * N, true, 128);
	packed = eml_secure_alloc(eml_qgemm_packed_size(isa, K, N));
	assert_non_null(packed);
	eml_qgemm_pack(isa, K, N, B, N, false, true, &zb, 1, packed);
	memset(&a, 0, sizeof(a));
	a.M = M;
	a.A = A;
	a.lda = K;
	a.za = &za;
	a.n_za = 1;
	a.C = C1;
	a.ldc = N;
	eml_qgemm(packed, &a, NULL);
	assert_int_equal(eml_pool_new(2, &pool), EML_OK);
	a.C = C2;
	eml_qgemm(packed, &a, pool);
	assert_memory_equal(C1, C2, M * N * 4);
	eml_pool_free(pool);
	eml_secure_free(packed);
	eml_free(A);
	eml_free(B);
	eml_free(C1);
	eml_free(C2);
}

/* ------------------------------------------------ requantization */

/* ONNX Runtime's requantization, written from the definition:
 * saturate(nearbyint((acc + bias) * mult) + zp) into [lo, hi]. */
static int32_t
requant_oracle(int32_t acc, int32_t bias, float mult, int32_t zp, int32_t lo, int32_t hi)
{
	float v = nearbyintf((float)(acc + bias) * mult) + (float)zp;

	return v < (float)lo ? lo : v > (float)hi ? hi : (int32_t)v;
}

/* Every shape 1..19 x 1..37 (the 8 x 16 blocks and both tails), row and
 * column strides past the shape, signed and unsigned outputs, a raised
 * floor (fused Relu), values that saturate both ways and ties (x.5). */
static void
qrequant_matches_oracle(void **state)
{
	uint64_t st = 11;
	size_t ldc = 41, ldy = 23;
	int32_t *C = eml_alloc(19 * ldc * 4), bias[37];
	float mult[37];
	uint8_t y[37 * 23];

	(void)state;
	assert_non_null(C);
	for (int sgn = 0; sgn < 2; sgn++)
		for (size_t m = 1; m <= 19; m++)
			for (size_t n = 1; n <= 37; n++) {
				struct eml_qrequant r = { bias, mult, 0, 0, 255, false, false };
				bool with_bias = (m + n) % 3 != 0;
				r.y_signed = sgn == 1;
				r.zp = (int32_t)(eml_test_rand(&st) % 40) - (sgn ? 20 : -100);
				r.lo = sgn ? -128 : 0;
				r.hi = sgn ? 127 : 255;
				if (n % 4 == 1)
					r.lo = r.zp; /* Relu */
				r.bias = with_bias ? bias : NULL;
				for (size_t j = 0; j < n; j++) {
					bias[j] = (int32_t)(eml_test_rand(&st) % 2001) - 1000;
					/* 0.5: exact ties; 1e30: saturation past int32 */
					mult[j] = j % 7 == 3 ? 0.5f : j % 11 == 5 ? 1e30f :
					    kt_randf(&st, -0.05f, 0.05f);
				}
				for (size_t i = 0; i < m * ldc; i++)
					C[i] = (int32_t)(eml_test_rand(&st) % 20001) - 10000;
				memset(y, 0xa5, sizeof(y));
				eml_qrequant_t(&r, m, n, C, ldc, y, ldy);
				for (size_t j = 0; j < n; j++)
					for (size_t i = 0; i < ldy; i++) {
						int32_t want, got;
						if (i >= m) {
							assert_int_equal(y[j * ldy + i], 0xa5);
							continue;
						}
						want = requant_oracle(C[i * ldc + j], with_bias ? bias[j] : 0,
						    mult[j], r.zp, r.lo, r.hi);
						got = sgn ? (int8_t)y[j * ldy + i] : y[j * ldy + i];
						if (got != want)
							fail_msg("m %zu n %zu (%zu, %zu): %d, want %d", m, n, i,
							    j, got, want);
					}
			}
	eml_free(C);
}

/* Byte transposes of every shape up to 35 x 35 with strides past them. */
static void
u8_transpose_shapes(void **state)
{
	uint8_t src[35 * 40], dst[35 * 38];
	uint64_t st = 5;

	(void)state;
	for (size_t i = 0; i < sizeof(src); i++)
		src[i] = (uint8_t)eml_test_rand(&st);
	for (size_t rows = 1; rows <= 35; rows++)
		for (size_t cols = 1; cols <= 35; cols++) {
			memset(dst, 0x5a, sizeof(dst));
			eml_u8_transpose(rows, cols, src, 40, dst, 38);
			for (size_t c = 0; c < 35; c++)
				for (size_t r = 0; r < 38; r++) {
					uint8_t want = c < cols && r < rows ? src[r * 40 + c] : 0x5a;
					if (dst[c * 38 + r] != want)
						fail_msg("%zu x %zu: [%zu][%zu]", rows, cols, c, r);
				}
		}
}

/* QuantizeLinear and DequantizeLinear against the ONNX definition on every
 * length 1..40 (the 8-wide blocks and their tails): ties (k + 0.5) * scale
 * round to even, values past the range and infinities saturate, NaN gives
 * the zero point. */
static void
quantize_dequantize_oracle(void **state)
{
	uint64_t st = 3;
	float x[40], yf[40];
	uint8_t y[48];

	(void)state;
	for (int sgn = 0; sgn < 2; sgn++)
		for (size_t n = 1; n <= 40; n++) {
			float scale = kt_randf(&st, 0.01f, 0.2f);
			int32_t zp = sgn ? (int32_t)(eml_test_rand(&st) % 41) - 20 :
					   (int32_t)(eml_test_rand(&st) % 200) + 20;
			int32_t lo = sgn ? -128 : 0, hi = sgn ? 127 : 255;
			for (size_t i = 0; i < n; i++) {
				float k = (float)((int)(eml_test_rand(&st) % 301) - 150);
				x[i] = i % 5 == 1 ? (k + 0.5f) * scale : kt_randf(&st, -30.0f, 30.0f);
				if (i % 13 == 7)
					x[i] = i % 2 ? INFINITY : -1e30f;
				if (i % 17 == 9)
					x[i] = NAN;
			}
			memset(y, 0xa5, sizeof(y));
			eml_quantize_f32(n, x, scale, zp, lo, hi, sgn == 1, y);
			for (size_t i = 0; i < n; i++) {
				float v = nearbyintf(x[i] / scale) + (float)zp;
				int32_t want = v != v ? zp : v < (float)lo ? lo : v > (float)hi ? hi :
				    (int32_t)v;
				int32_t got = sgn ? (int8_t)y[i] : y[i];
				if (got != want)
					fail_msg("quantize n %zu [%zu] %a: %d, want %d", n, i,
					    (double)x[i], got, want);
			}
			assert_int_equal(y[n], 0xa5);
			if (n < 40)
				yf[n] = -7.0f;
			eml_dequantize_q8(n, y, sgn == 1, zp, scale, yf);
			for (size_t i = 0; i < n; i++) {
				int32_t q = sgn ? (int8_t)y[i] : y[i];
				if (yf[i] != (float)(q - zp) * scale)
					fail_msg("dequantize n %zu [%zu]", n, i);
			}
			if (n < 40)
				assert_true(yf[n] == -7.0f);
		}
}

/* The int8 GEMM with a requantized output (the kernel's fused path where B
 * is symmetric and A has one zero point, the int32 path and
 * eml_qrequant_t otherwise) against the definition and the oracle, on
 * every ISA this CPU has, ragged M, N and K, int8 and uint8 A. */
static void
qgemm_requant_oracle(void **state)
{
	static const size_t Ms[] = { 1, 7, 8, 9, 17, 24 };
	static const size_t Ns[] = { 1, 15, 16, 31, 32, 33, 70 };
	static const size_t Ks[] = { 1, 3, 4, 27, 64, 131 };
	uint64_t st = 77;
	size_t t = 0;

	(void)state;
	for (int isa = EML_QISA_REF; isa <= EML_QISA_AVX512VNNI; isa++) {
		if (!eml_qisa_available((enum eml_qisa)isa))
			continue;
		for (size_t mi = 0; mi < 6; mi++)
			for (size_t ni = 0; ni < 7; ni++)
				for (size_t ki = 0; ki < 6; ki++, t++) {
					/* rows: y [M][N] (NHWC) every other shape, else [N][M] */
					bool rows = (t % 2) == (t / 6 % 2);
					size_t M = Ms[mi], N = Ns[ni], K = Ks[ki], ldy = (rows ? N : M) + 5;
					size_t ny = (rows ? M : N) * ldy, si = rows ? ldy : 1, sj = rows ? 1 : ldy;
					bool as = (t & 1) != 0, sym = (t % 3) != 0, ys = (t & 4) != 0;
					uint8_t *A = eml_alloc(M * K), *B = eml_alloc(K * N);
					uint8_t *y = eml_alloc(ny), zb[70];
					int32_t *C = eml_alloc(M * N * 4), bias[70], za;
					float mult[70];
					void *packed = eml_secure_alloc(eml_qgemm_packed_size((enum eml_qisa)isa, K, N));
					struct eml_qrequant rq = { bias, mult, 0, 0, 0, ys, false };
					struct eml_qgemm_args a;
					assert_true(A && B && y && C && packed);
					fill_bytes(&st, A, M * K, as, 128);
					fill_bytes(&st, B, K * N, true, 64);
					za = (int32_t)(eml_test_rand(&st) % 256) - (as ? 128 : 0);
					for (size_t j = 0; j < N; j++) {
						zb[j] = sym ? 0 : (uint8_t)(eml_test_rand(&st) % 9);
						bias[j] = (int32_t)(eml_test_rand(&st) % 20001) - 10000;
						mult[j] = kt_randf(&st, 0.0001f, 0.01f);
					}
					rq.zp = ys ? -3 : 17;
					rq.lo = ys ? -128 : 0;
					rq.hi = ys ? 127 : 255;
					if (t % 5 == 0)
						rq.lo = rq.zp; /* Relu */
					if (t % 7 == 0)
						rq.bias = NULL;
					rq.rows = rows;
					eml_qgemm_pack((enum eml_qisa)isa, K, N, B, N, false, true, zb, N, packed);
					memset(&a, 0, sizeof(a));
					memset(y, 0xa5, ny);
					a.M = M;
					a.A = A;
					a.lda = K;
					a.a_signed = as;
					a.za = &za;
					a.n_za = 1;
					a.C = C;
					a.ldc = N;
					a.rq = &rq;
					a.y = y;
					a.ldy = ldy;
					eml_qgemm(packed, &a, NULL);
					for (size_t i = 0; i < M; i++)
						for (size_t j = 0; j < N; j++) {
							int64_t sum = 0;
							int32_t want, got;
							for (size_t k = 0; k < K; k++)
								sum += (int64_t)(val_of(A, i * K + k, as) - za) *
								    (val_of(B, k * N + j, true) - (int8_t)zb[j]);
							want = requant_oracle((int32_t)sum,
							    rq.bias != NULL ? bias[j] : 0, mult[j], rq.zp, rq.lo,
							    rq.hi);
							got = ys ? (int8_t)y[i * si + j * sj] : y[i * si + j * sj];
							if (got != want)
								fail_msg("%s M%zu N%zu K%zu as%d sym%d rows%d [%zu,%zu]: %d, want %d",
								    eml_qisa_name((enum eml_qisa)isa), M, N, K, as, sym, rows,
								    i, j, got, want);
						}
					/* nothing past each row (of ldy) written */
					for (size_t r = 0; r < (rows ? M : N); r++)
						for (size_t c = rows ? N : M; c < ldy; c++)
							assert_int_equal(y[r * ldy + c], 0xa5);
					eml_secure_free(packed);
					eml_free(A);
					eml_free(B);
					eml_free(y);
					eml_free(C);
				}
	}
}

/* The indirect A (a convolution without im2col) where the GEMM takes it:
 * rows assembled from runs at random offsets of a base image and from the
 * padding run, against the same GEMM on those rows written out. */
static void
qgemm_indirect_oracle(void **state)
{
	static const size_t Ms[] = { 1, 8, 13, 24 };
	static const size_t Ns[] = { 5, 32, 45 };
	static const size_t runs[] = { 4, 8, 32 };
	uint64_t st = 99;
	size_t t = 0, taps = 3, nbase = 4096;
	bool ran = false;

	(void)state;
	for (size_t mi = 0; mi < 4; mi++)
		for (size_t ni = 0; ni < 3; ni++)
			for (size_t ri = 0; ri < 3; ri++, t++) {
				size_t M = Ms[mi], N = Ns[ni], run = runs[ri], K = taps * run, ldy = M;
				bool as = (t & 1) != 0;
				uint8_t *base = eml_alloc(nbase), *A = eml_alloc(M * K), pad[32];
				uint8_t *B = eml_alloc(K * N), *y1 = eml_alloc(N * M), *y2 = eml_alloc(N * M);
				/* eml_qind_at's blocks, the rows past M -1 */
				size_t Mr = (M + EML_QIND_ROWS - 1) / EML_QIND_ROWS * EML_QIND_ROWS;
				int32_t *offs = eml_alloc(Mr * taps * 4), *C = eml_alloc(M * N * 4);
				int32_t bias[45], za = as ? -5 : 9;
				float mult[45];
				void *packed = eml_secure_alloc(
				    eml_qgemm_packed_size(eml_qisa_get(), K, N));
				struct eml_qrequant rq = { bias, mult, 3, 0, 255, false, false };
				struct eml_qgemm_args a;
				assert_true(base && A && B && y1 && y2 && offs && C && packed);
				for (size_t i = M; i < Mr; i++)
					for (size_t k = 0; k < taps; k++)
						offs[eml_qind_at(i, k, taps)] = -1;
				fill_bytes(&st, base, nbase, as, 128);
				fill_bytes(&st, B, K * N, true, 64);
				memset(pad, (uint8_t)za, sizeof(pad));
				for (size_t j = 0; j < N; j++) {
					bias[j] = (int32_t)(eml_test_rand(&st) % 2001) - 1000;
					mult[j] = kt_randf(&st, 0.0005f, 0.005f);
				}
				for (size_t i = 0; i < M; i++)
					for (size_t k = 0; k < taps; k++) {
						int32_t o = eml_test_rand(&st) % 4 == 0 ? -1 :
						    (int32_t)(eml_test_rand(&st) % (nbase - run));
						offs[eml_qind_at(i, k, taps)] = o;
						memcpy(A + i * K + k * run, o < 0 ? pad : base + o, run);
					}
				eml_qgemm_pack(eml_qisa_get(), K, N, B, N, false, true, NULL, 1, packed);
				if (!eml_qgemm_indirect_ok(packed, taps)) {
					eml_secure_free(packed);
					eml_free(base);
					eml_free(A);
					eml_free(B);
					eml_free(y1);
					eml_free(y2);
					eml_free(offs);
					eml_free(C);
					continue;
				}
				ran = true;
				memset(&a, 0, sizeof(a));
				a.M = M;
				a.A = A;
				a.lda = K;
				a.a_signed = as;
				a.za = &za;
				a.n_za = 1;
				a.C = C;
				a.ldc = N;
				a.rq = &rq;
				a.y = y1;
				a.ldy = ldy;
				eml_qgemm(packed, &a, NULL);
				a.A = base;
				a.a_offs = offs;
				a.taps = taps;
				a.a_pad = pad;
				a.y = y2;
				eml_qgemm(packed, &a, NULL);
				if (memcmp(y1, y2, N * M) != 0)
					fail_msg("indirect M%zu N%zu run %zu as%d differs", M, N, run, as);
				eml_secure_free(packed);
				eml_free(base);
				eml_free(A);
				eml_free(B);
				eml_free(y1);
				eml_free(y2);
				eml_free(offs);
				eml_free(C);
			}
	if (!ran)
		skip();
}

/* The requantizing GEMM split across threads (row chunks x panels of
 * output channels), with a direct and an indirect A, on shapes that span
 * several chunks and panels with ragged tails of both, no pool, a
 * one-thread pool and a two-thread pool splitting every step
 * (EML_POOL_MIN_WORK=0): every output against the definition, and the
 * bytes past each channel's row untouched. */
static void
qgemm_requant_split(void **state)
{
	static const size_t Ms[] = { 1, 63, 64, 65, 129, 200, 333 };
	static const size_t Ns[] = { 1, 31, 33, 97, 130 };
	static const size_t runs[] = { 4, 12, 36 };
	struct eml_pool *pools[3] = { NULL, NULL, NULL };
	size_t taps = 3, nbase = 8192;
	uint64_t st = 123;
	size_t t = 0;

	(void)state;
	assert_int_equal(setenv("EML_POOL_MIN_WORK", "0", 1), 0);
	assert_int_equal(eml_pool_new(1, &pools[1]), EML_OK);
	assert_int_equal(eml_pool_new(2, &pools[2]), EML_OK);
	assert_int_equal(unsetenv("EML_POOL_MIN_WORK"), 0);
	for (size_t mi = 0; mi < sizeof(Ms) / sizeof(Ms[0]); mi++)
		for (size_t ni = 0; ni < sizeof(Ns) / sizeof(Ns[0]); ni++, t++) {
			size_t M = Ms[mi], N = Ns[ni], run = runs[t % 3], K = taps * run;
			size_t ldy = (M > N ? M : N) + 3;
			bool as = (t & 1) != 0, ys = (t & 2) != 0;
			uint8_t *base = eml_alloc(nbase), *A = eml_alloc(M * K), pad[36];
			uint8_t *B = eml_alloc(K * N), *y = eml_alloc((M > N ? M : N) * ldy);
			/* eml_qind_at's blocks, the rows past M -1 */
			size_t Mr = (M + EML_QIND_ROWS - 1) / EML_QIND_ROWS * EML_QIND_ROWS;
			int32_t *offs = eml_alloc(Mr * taps * 4), *C = eml_alloc(M * N * 4);
			int32_t *bias = eml_alloc(N * 4), za = as ? -7 : 11;
			float *mult = eml_alloc(N * 4);
			void *packed = eml_secure_alloc(eml_qgemm_packed_size(eml_qisa_get(), K, N));
			struct eml_qrequant rq = { bias, mult, ys ? -2 : 5, ys ? -128 : 0, ys ? 127 : 255,
				ys, false };
			struct eml_qgemm_args a;

			assert_true(base && A && B && y && offs && C && bias && mult && packed);
			for (size_t i = M; i < Mr; i++)
				for (size_t k = 0; k < taps; k++)
					offs[eml_qind_at(i, k, taps)] = -1;
			fill_bytes(&st, base, nbase, as, 128);
			fill_bytes(&st, B, K * N, true, 64);
			memset(pad, (uint8_t)za, sizeof(pad));
			for (size_t j = 0; j < N; j++) {
				bias[j] = (int32_t)(eml_test_rand(&st) % 4001) - 2000;
				mult[j] = kt_randf(&st, 0.0005f, 0.005f);
			}
			for (size_t i = 0; i < M; i++)
				for (size_t k = 0; k < taps; k++) {
					int32_t o = eml_test_rand(&st) % 5 == 0 ? -1 :
					    (int32_t)(eml_test_rand(&st) % (nbase - run));
					offs[eml_qind_at(i, k, taps)] = o;
					memcpy(A + i * K + k * run, o < 0 ? pad : base + o, run);
				}
			eml_qgemm_pack(eml_qisa_get(), K, N, B, N, false, true, NULL, 1, packed);
			for (int ind = 0; ind < 2; ind++)
				for (size_t pi = 0; pi < 6; pi++) {
					/* pools[pi % 3]; rows (NHWC) output from pi 3 on */
					bool rows = pi >= 3;
					/* element (i, j) at y[i * si + j * sj] */
					size_t si = rows ? ldy : 1, sj = rows ? 1 : ldy;
					if (ind && !eml_qgemm_indirect_ok(packed, taps))
						continue;
					rq.rows = rows;
					memset(&a, 0, sizeof(a));
					memset(y, 0xa5, (M > N ? M : N) * ldy);
					a.M = M;
					a.A = ind ? base : A;
					a.lda = K;
					a.a_signed = as;
					a.za = &za;
					a.n_za = 1;
					a.C = C;
					a.ldc = N;
					a.rq = &rq;
					a.y = y;
					a.ldy = ldy;
					if (ind) {
						a.a_offs = offs;
						a.taps = taps;
						a.a_pad = pad;
					}
					eml_qgemm(packed, &a, pools[pi % 3]);
					for (size_t j = 0; j < N; j++) {
						for (size_t i = 0; i < M; i++) {
							int64_t sum = 0;
							int32_t want, got;
							for (size_t k = 0; k < K; k++)
								sum += (int64_t)(val_of(A, i * K + k, as) - za) *
								    val_of(B, k * N + j, true);
							want = requant_oracle((int32_t)sum, bias[j], mult[j],
							    rq.zp, rq.lo, rq.hi);
							got = ys ? (int8_t)y[i * si + j * sj] : y[i * si + j * sj];
							if (got != want)
								fail_msg("M%zu N%zu K%zu ind%d pool%zu as%d rows%d [%zu,%zu]: %d, want %d",
								    M, N, K, ind, pi % 3, as, rows, i, j, got, want);
						}
					}
					/* nothing past each row (of ldy) written */
					for (size_t r = 0; r < (rows ? M : N); r++)
						for (size_t c = rows ? N : M; c < ldy; c++)
							assert_int_equal(y[r * ldy + c], 0xa5);
				}
			eml_secure_free(packed);
			eml_free(base);
			eml_free(A);
			eml_free(B);
			eml_free(y);
			eml_free(offs);
			eml_free(C);
			eml_free(bias);
			eml_free(mult);
		}
	eml_pool_free(pools[1]);
	eml_pool_free(pools[2]);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(half_known_values),
		cmocka_unit_test(half_all_round_trip),
		cmocka_unit_test(half_simd_matches_scalar),
		cmocka_unit_test(bf16_known_values),
		cmocka_unit_test(qgemm_ref),
		cmocka_unit_test(qgemm_avx2),
		cmocka_unit_test(qgemm_avxvnni),
		cmocka_unit_test(qgemm_avx512vnni),
		cmocka_unit_test(qgemm_avx2_saturation_boundary),
		cmocka_unit_test(qgemm_threads),
		cmocka_unit_test(qrequant_matches_oracle),
		cmocka_unit_test(u8_transpose_shapes),
		cmocka_unit_test(quantize_dequantize_oracle),
		cmocka_unit_test(qgemm_requant_oracle),
		cmocka_unit_test(qgemm_indirect_oracle),
		cmocka_unit_test(qgemm_requant_split),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
