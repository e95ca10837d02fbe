/*
 * GEMM, portable reference (the oracle for the blocked SIMD GEMMs).
 *
 * Plain loops: for each row of C, a strip of up to REF_STRIP columns is
 * accumulated on the stack over k in order, so the sum order is the
 * textbook one (k = 0 .. K-1, one float accumulator per element). The
 * packed-B form is simply op(B) copied row-major (K x N).
 */
#include "engine/kernels/eml_kernels_int.h"

#define REF_STRIP 64

size_t
eml_sgemm_packed_b_size_ref(size_t K, size_t N)
{
	return K * N;
}

void
eml_sgemm_pack_b_ref(size_t K, size_t N, const float *B, size_t ldb, bool trans_b,
    float *packed)
{
	size_t k, j;

	for (k = 0; k < K; k++)
		for (j = 0; j < N; j++)
			packed[k * N + j] = trans_b ? B[j * ldb + k] : B[k * ldb + j];
}

size_t
eml_sgemm_workspace_size_ref(const struct eml_sgemm_args *a, int nthreads)
{
	(void)a;
	(void)nthreads;
	return 0;
}

void
eml_sgemm_ref(const struct eml_sgemm_args *a, float *workspace, struct eml_pool *pool)
{
	const float *B = a->b_packed != NULL ? a->b_packed : a->B;
	size_t ldb = a->b_packed != NULL ? a->N : a->ldb;
	bool tb = a->b_packed != NULL ? false : a->trans_b;
	size_t i, j0, j, k;

	(void)workspace;
	(void)pool;
	for (i = 0; i < a->M; i++) {
		for (j0 = 0; j0 < a->N; j0 += REF_STRIP) {
			size_t nj = a->N - j0 < REF_STRIP ? a->N - j0 : REF_STRIP;
			float acc[REF_STRIP];

			for (j = 0; j < nj; j++)
				acc[j] = 0.0f;
			for (k = 0; k < a->K; k++) {
				float av = a->trans_a ? a->A[k * a->lda + i] : a->A[i * a->lda + k];

				for (j = 0; j < nj; j++) {
					size_t jj = j0 + j;
					float bv = tb ? B[jj * ldb + k] : B[k * ldb + jj];

					acc[j] += av * bv;
				}
			}
			for (j = 0; j < nj; j++) {
				float *c = &a->C[i * a->ldc + j0 + j];
				float v = a->alpha * acc[j];

				if (a->beta != 0.0f)
					v += a->beta * *c;
				if (a->bias_kind == EML_BIAS_COL && a->bias != NULL)
					v += a->bias[j0 + j];
				else if (a->bias_kind == EML_BIAS_ROW && a->bias != NULL)
					v += a->bias[i];
				*c = eml_act_ref(a->ep.act, a->ep.a, a->ep.b, v);
			}
		}
	}
}
