/*
 * Convolution plans: parameters validated once, the method chosen per shape
 * and ISA, the weights copied (and packed) into secure memory the plan
 * owns.
 */
#include "eml_mem.h"
#include "enclave-agent/kernels/eml_kernels_int.h"

enum conv_method {
	CONV_REF = 0,
};

static const char *const method_names[] = {
	[CONV_REF] = "direct-ref",
};

struct eml_conv2d_plan {
	struct eml_conv2d_params p;
	size_t OH, OW;
	enum conv_method method;
	enum eml_isa isa;
	float *w; /* eml_secure_alloc, w_bytes */
	size_t w_bytes;
	float *bias; /* eml_secure_alloc, M floats, or NULL */
	size_t ws;
};

static size_t
out_dim(size_t in, size_t k, size_t stride, size_t dil, size_t p0, size_t p1)
{
	size_t ek, padded;

	if (k == 0 || stride == 0 || dil == 0)
		return 0;
	if (eml_mul_overflow(dil, k - 1, &ek) || eml_add_overflow(ek, (size_t)1, &ek))
		return 0;
	if (eml_add_overflow(in, p0, &padded) || eml_add_overflow(padded, p1, &padded))
		return 0;
	if (padded < ek)
		return 0;
	return (padded - ek) / stride + 1;
}

size_t
eml_conv2d_out_h(const struct eml_conv2d_params *p)
{
	return out_dim(p->H, p->kh, p->stride_h, p->dil_h, p->pad_top, p->pad_bottom);
}

size_t
eml_conv2d_out_w(const struct eml_conv2d_params *p)
{
	return out_dim(p->W, p->kw, p->stride_w, p->dil_w, p->pad_left, p->pad_right);
}

static eml_err
check_params(const struct eml_conv2d_params *p)
{
	size_t t;

	EML_ENSURE_REF(p);
	if (p->N == 0 || p->C == 0 || p->H == 0 || p->W == 0 || p->M == 0 || p->group == 0 ||
	    p->C % p->group != 0 || p->M % p->group != 0) {
		eml_err_set_detail("conv: N=%zu C=%zu H=%zu W=%zu M=%zu group=%zu", p->N, p->C,
		    p->H, p->W, p->M, p->group);
		EML_BAIL(EML_ERR_KERNEL_PARAMS);
	}
	if (eml_conv2d_out_h(p) == 0 || eml_conv2d_out_w(p) == 0) {
		eml_err_set_detail("conv: kernel %zux%zu stride %zux%zu dilation %zux%zu "
				   "gives no output",
		    p->kh, p->kw, p->stride_h, p->stride_w, p->dil_h, p->dil_w);
		EML_BAIL(EML_ERR_KERNEL_PARAMS);
	}
	/* Every size the kernels compute must fit: N*C*H*W, N*M*OH*OW and the
	 * weights, in bytes. */
	if (eml_mul_overflow(p->N, p->C, &t) || eml_mul_overflow(t, p->H, &t) ||
	    eml_mul_overflow(t, p->W, &t) || eml_mul_overflow(t, sizeof(float), &t) ||
	    eml_mul_overflow(p->N, p->M, &t) || eml_mul_overflow(t, eml_conv2d_out_h(p), &t) ||
	    eml_mul_overflow(t, eml_conv2d_out_w(p), &t) ||
	    eml_mul_overflow(t, sizeof(float), &t) || eml_mul_overflow(p->M, p->C, &t) ||
	    eml_mul_overflow(t, p->kh, &t) || eml_mul_overflow(t, p->kw, &t) ||
	    eml_mul_overflow(t, 2 * sizeof(float), &t))
		EML_BAIL(EML_ERR_OVERFLOW);
	return EML_OK;
}

eml_err
eml_conv2d_plan_new_isa(enum eml_isa isa, const struct eml_conv2d_params *p,
    const float *weights, const float *bias, int nthreads, struct eml_conv2d_plan **out)
{
	eml_err rc = EML_ERR_INTERNAL;
	struct eml_conv2d_plan *plan = NULL;
	size_t wn;

	(void)nthreads;
	if (out == NULL || weights == NULL)
		return eml_err_record(EML_ERR_NULL, __FILE__, __LINE__, __func__);
	*out = NULL;
	rc = check_params(p);
	if (rc != EML_OK)
		return rc;
	if (eml_kernels_for(isa) == NULL) {
		eml_err_set_detail("ISA %s not available on this CPU", eml_isa_name(isa));
		return eml_err_record(EML_ERR_UNSUPPORTED, __FILE__, __LINE__, __func__);
	}
	plan = eml_calloc(1, sizeof(*plan));
	if (plan == NULL)
		EML_FAIL(rc, EML_ERR_NOMEM);
	plan->p = *p;
	plan->isa = isa;
	plan->OH = eml_conv2d_out_h(p);
	plan->OW = eml_conv2d_out_w(p);
	plan->method = CONV_REF;
	wn = p->M * (p->C / p->group) * p->kh * p->kw;
	plan->w_bytes = wn * sizeof(float);
	plan->w = eml_secure_alloc(plan->w_bytes);
	if (plan->w == NULL)
		EML_FAIL(rc, EML_ERR_NOMEM);
	EML_MEMCPY(plan->w, weights, plan->w_bytes);
	if (bias != NULL) {
		plan->bias = eml_secure_alloc(p->M * sizeof(float));
		if (plan->bias == NULL)
			EML_FAIL(rc, EML_ERR_NOMEM);
		EML_MEMCPY(plan->bias, bias, p->M * sizeof(float));
	}
	plan->ws = 0;
	*out = plan;
	plan = NULL; /* transferred */
	rc = EML_OK;
out:
	eml_conv2d_plan_free(plan);
	return rc;
}

eml_err
eml_conv2d_plan_new(const struct eml_conv2d_params *p, const float *weights,
    const float *bias, int nthreads, struct eml_conv2d_plan **out)
{
	return eml_conv2d_plan_new_isa(eml_kernels_get()->isa, p, weights, bias, nthreads, out);
}

size_t
eml_conv2d_workspace_size(const struct eml_conv2d_plan *plan)
{
	return plan->ws;
}

const char *
eml_conv2d_method(const struct eml_conv2d_plan *plan)
{
	return method_names[plan->method];
}

void
eml_conv2d_run(const struct eml_conv2d_plan *plan, const float *x, float *y,
    float *workspace, struct eml_pool *pool)
{
	(void)workspace;
	(void)pool;
	switch (plan->method) {
	case CONV_REF:
		eml_conv2d_ref(&plan->p, x, plan->w, plan->bias, y);
		break;
	}
}

void
eml_conv2d_plan_free(struct eml_conv2d_plan *plan)
{
	if (plan == NULL)
		return;
	eml_secure_free(plan->w);
	eml_secure_free(plan->bias);
	eml_free(plan);
}
