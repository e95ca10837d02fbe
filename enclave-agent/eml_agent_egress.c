#include "eml_agent_egress.h"

#include <string.h>

#include "eml_envelope.h"
#include "eml_mem.h"

static const struct eml_value_info *
declared_output(const struct eml_graph *g, const char *name, size_t *index)
{
	for (size_t i = 0; i < g->n_outputs; i++) {
		if (g->outputs[i].name != NULL && strcmp(g->outputs[i].name, name) == 0) {
			*index = i;
			return &g->outputs[i];
		}
	}
	return NULL;
}

static eml_err
check_one(const struct eml_value_info *vi, const struct eml_tensor *t, size_t *bytes)
{
	size_t numel = 1;
	size_t want;
	size_t esz = eml_dtype_size(t->dtype);

	if (t->dtype != vi->dtype) {
		eml_err_set_detail("output dtype %s, declared %s", eml_dtype_name(t->dtype),
		    eml_dtype_name(vi->dtype));
		EML_BAIL(EML_ERR_EGRESS);
	}
	EML_ENSURE(esz != 0, EML_ERR_EGRESS);
	if (t->rank < 0 || t->rank > EML_MAX_RANK) {
		eml_err_set_detail("output rank %d out of range", t->rank);
		EML_BAIL(EML_ERR_EGRESS);
	}
	if (vi->rank >= 0 && vi->rank != t->rank) {
		eml_err_set_detail("output rank %d, declared %d", t->rank, vi->rank);
		EML_BAIL(EML_ERR_EGRESS);
	}
	for (int d = 0; d < t->rank; d++) {
		if (t->dims[d] < 0) {
			eml_err_set_detail("negative output dimension");
			EML_BAIL(EML_ERR_EGRESS);
		}
		if (vi->rank >= 0 && vi->dims[d].value >= 0 && vi->dims[d].value != t->dims[d]) {
			eml_err_set_detail("output dimension %d is %lld, declared %lld", d,
			    (long long)t->dims[d], (long long)vi->dims[d].value);
			EML_BAIL(EML_ERR_EGRESS);
		}
		if (eml_mul_overflow(numel, (size_t)t->dims[d], &numel))
			EML_BAIL(EML_ERR_EGRESS);
	}
	if (eml_mul_overflow(numel, esz, &want) || want != t->nbytes) {
		eml_err_set_detail("output byte length disagrees with its shape");
		EML_BAIL(EML_ERR_EGRESS);
	}
	if (t->nbytes != 0 && t->data == NULL)
		EML_BAIL(EML_ERR_EGRESS);
	*bytes = want;
	return EML_OK;
}

eml_err
eml_egress_check(const struct eml_graph *g, const struct eml_tensor *outputs, size_t n,
    size_t cap)
{
	uint8_t seen[64];
	size_t total = 0;

	EML_ENSURE_REF(g);
	EML_ENSURE(n == 0 || outputs != NULL, EML_ERR_NULL);
	/* Every declared output exactly once: a count mismatch means a missing
	 * or an extra tensor, and duplicates are caught below. */
	if (n != g->n_outputs || n == 0) {
		eml_err_set_detail("%zu outputs for %zu declared", n, g->n_outputs);
		EML_BAIL(EML_ERR_EGRESS);
	}
	if (n > sizeof(seen)) {
		eml_err_set_detail("more than %zu declared outputs", sizeof(seen));
		EML_BAIL(EML_ERR_EGRESS);
	}
	memset(seen, 0, sizeof(seen));
	for (size_t i = 0; i < n; i++) {
		const struct eml_value_info *vi;
		size_t idx = 0;
		size_t bytes = 0;

		if (outputs[i].name == NULL ||
		    (vi = declared_output(g, outputs[i].name, &idx)) == NULL) {
			eml_err_set_detail("output %zu is not a declared graph output", i);
			EML_BAIL(EML_ERR_EGRESS);
		}
		if (seen[idx]) {
			eml_err_set_detail("output %zu repeats a declared output", i);
			EML_BAIL(EML_ERR_EGRESS);
		}
		seen[idx] = 1;
		EML_GUARD(check_one(vi, &outputs[i], &bytes));
		if (eml_add_overflow(total, bytes, &total) || total > cap) {
			eml_err_set_detail("outputs above the egress cap of %zu bytes", cap);
			EML_BAIL(EML_ERR_EGRESS);
		}
	}
	return EML_OK;
}

static const struct eml_tensor *
find_output(const struct eml_tensor *outputs, size_t n, const char *name)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(outputs[i].name, name) == 0)
			return &outputs[i];
	return NULL;
}

eml_err
eml_egress_encode(const struct eml_graph *g, const struct eml_tensor *outputs, size_t n,
    size_t cap, struct eml_buf *out)
{
	eml_err rc = EML_ERR_INTERNAL;
	Eml__V1__InferResponse resp = EML__V1__INFER_RESPONSE__INIT;
	Eml__V1__Tensor *tv = NULL;
	Eml__V1__Tensor **tp = NULL;
	uint64_t *dims = NULL;

	if (out == NULL)
		EML_FAIL(rc, EML_ERR_NULL);
	if ((rc = eml_egress_check(g, outputs, n, cap)) != EML_OK)
		goto out;
	tv = eml_calloc(n, sizeof(*tv));
	tp = eml_calloc(n, sizeof(*tp));
	dims = eml_calloc(n * EML_MAX_RANK, sizeof(*dims));
	if (tv == NULL || tp == NULL || dims == NULL)
		EML_FAIL(rc, EML_ERR_NOMEM);
	/* Declared order, so the client sees the same order as eml run --local. */
	for (size_t i = 0; i < n; i++) {
		const struct eml_tensor *t = find_output(outputs, n, g->outputs[i].name);
		Eml__V1__Tensor init = EML__V1__TENSOR__INIT;

		if (t == NULL)
			EML_FAIL(rc, EML_ERR_EGRESS);
		tv[i] = init;
		tv[i].name = t->name;
		tv[i].dtype = (Eml__V1__DType)t->dtype;
		tv[i].n_dims = (size_t)t->rank;
		tv[i].dims = &dims[i * EML_MAX_RANK];
		for (int d = 0; d < t->rank; d++)
			tv[i].dims[d] = (uint64_t)t->dims[d];
		tv[i].data.data = t->data;
		tv[i].data.len = t->nbytes;
		tp[i] = &tv[i];
	}
	resp.n_outputs = n;
	resp.outputs = tp;
	if ((rc = eml_msg_pack(&resp.base, out)) != EML_OK)
		goto out;
	rc = EML_OK;
out:
	eml_free(tv);
	eml_free(tp);
	eml_free(dims);
	return rc;
}
