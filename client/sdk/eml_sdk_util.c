/* libeml: the parts of the public API that need no session: version,
 * error strings, tensors and their files, models. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

#include "client/sdk/eml_sdk_int.h"
#include "model/eml_onnx_tensor.h"
#include "eml/eml.h"
#include "eml_file.h"
#include "eml_mem.h"

_Static_assert(EML_CLIENT_MAX_RANK == EML_MAX_RANK, "rank limits agree");
_Static_assert((int)EML_CLIENT_DT_FLOAT == (int)EML_DT_FLOAT, "dtype numbers agree");
_Static_assert((int)EML_CLIENT_DT_UINT64 == (int)EML_DT_UINT64, "dtype numbers agree");

EML_API const char *
eml_version(void)
{
	return EML_VERSION_STRING;
}

EML_API const char *
eml_client_strerror(int code)
{
	return eml_strerror((eml_err)code);
}

EML_API const char *
eml_client_error_name(int code)
{
	return eml_err_name((eml_err)code);
}

/* Thread-local detail for calls without a handle. */
static _Thread_local char tls_detail[256];
_Static_assert(sizeof(tls_detail) == sizeof(((struct eml_client *)0)->detail), "detail sizes");

void
eml_sdk_note(struct eml_client *c, eml_err rc)
{
	char *dst = c != NULL ? c->detail : tls_detail;
	size_t n = sizeof(tls_detail); /* == sizeof(c->detail) */

	if (rc == EML_OK)
		dst[0] = '\0';
	else
		(void)snprintf(dst, n, "%s", eml_err_detail());
}

EML_API const char *
eml_client_detail(const struct eml_client *c)
{
	return c != NULL ? c->detail : tls_detail;
}

EML_API void
eml_client_tensors_free(struct eml_client_tensor *t, size_t n)
{
	if (t == NULL)
		return;
	for (size_t i = 0; i < n; i++) {
		eml_free((void *)(uintptr_t)t[i].name);
		/* Output tensors are plaintext results: wipe them. */
		eml_free_wipe((void *)(uintptr_t)t[i].data, t[i].nbytes);
	}
	eml_free_wipe(t, n * sizeof(*t));
}

eml_err
eml_sdk_tensor_size(const struct eml_client_tensor *t, size_t *nbytes)
{
	size_t n = eml_dtype_size((enum eml_dtype)t->dtype);

	EML_ENSURE(n != 0, EML_ERR_USAGE);
	EML_ENSURE(t->rank <= EML_CLIENT_MAX_RANK, EML_ERR_USAGE);
	for (size_t d = 0; d < t->rank; d++)
		EML_ENSURE(!eml_mul_overflow(n, (size_t)t->dims[d], &n), EML_ERR_OVERFLOW);
	*nbytes = n;
	return EML_OK;
}

eml_err
eml_sdk_tensor_views(const struct eml_client_tensor *inputs, size_t n,
    struct eml_sdk_tensor_views *v)
{
	if (n == 0 || n > SDK_MAX_IO) {
		eml_err_set_detail("between 1 and %d input tensors", SDK_MAX_IO);
		EML_BAIL(EML_ERR_USAGE);
	}
	for (size_t i = 0; i < n; i++) {
		Eml__V1__Tensor init = EML__V1__TENSOR__INIT;
		size_t want = 0;

		EML_GUARD(eml_sdk_tensor_size(&inputs[i], &want));
		if (want != inputs[i].nbytes || (inputs[i].data == NULL && want != 0) ||
		    inputs[i].name == NULL) {
			eml_err_set_detail("input %zu: name, shape, type and data disagree", i);
			EML_BAIL(EML_ERR_USAGE);
		}
		v->tv[i] = init;
		v->tv[i].name = (char *)(uintptr_t)inputs[i].name;
		v->tv[i].dtype = (Eml__V1__DType)inputs[i].dtype;
		v->tv[i].n_dims = inputs[i].rank;
		for (size_t d = 0; d < inputs[i].rank; d++)
			v->dims[i][d] = inputs[i].dims[d];
		v->tv[i].dims = v->dims[i];
		v->tv[i].data.data = (uint8_t *)(uintptr_t)inputs[i].data;
		v->tv[i].data.len = inputs[i].nbytes;
		v->tp[i] = &v->tv[i];
	}
	return EML_OK;
}

void
eml_sdk_model_fields(const struct eml_client_model *m, ProtobufCBinaryData *topo,
    ProtobufCBinaryData *sig)
{
	topo->data = m->topo;
	topo->len = m->topo_len;
	if (m->sig != NULL) {
		sig->data = m->sig;
		sig->len = m->sig_len;
	}
}

eml_err
eml_sdk_outputs_copy(const Eml__V1__InferResponse *r, struct eml_client_tensor **outs,
    size_t *n_outs)
{
	eml_err rc = EML_ERR_INTERNAL;
	struct eml_client_tensor *t = NULL;
	size_t n = 0;

	if (r->n_outputs == 0 || r->n_outputs > SDK_MAX_IO)
		EML_FAIL(rc, EML_ERR_PROTO_FIELD);
	t = eml_calloc(r->n_outputs, sizeof(*t));
	if (t == NULL)
		EML_FAIL(rc, EML_ERR_NOMEM);
	for (n = 0; n < r->n_outputs; n++) {
		const Eml__V1__Tensor *o = r->outputs[n];

		if (o->n_dims > EML_CLIENT_MAX_RANK)
			EML_FAIL(rc, EML_ERR_PROTO_FIELD);
		if ((rc = eml_sdk_tensor_fill(&t[n], o->name, (int)o->dtype, o->n_dims, o->dims,
		    o->data.data, o->data.len)) != EML_OK)
			goto out;
	}
	*outs = t;
	*n_outs = n;
	t = NULL; /* transferred */
	rc = EML_OK;
out:
	eml_client_tensors_free(t, n);
	return rc;
}

/* Fill an owned public tensor from parts (copies name and data). */
eml_err
eml_sdk_tensor_fill(struct eml_client_tensor *dst, const char *name, int dtype,
    size_t rank, const uint64_t *dims, const void *data, size_t nbytes)
{
	eml_err rc = EML_ERR_INTERNAL;
	char *nm = NULL;
	void *d = NULL;
	size_t want = 0;

	memset(dst, 0, sizeof(*dst));
	if (rank > EML_CLIENT_MAX_RANK)
		EML_FAIL(rc, EML_ERR_PROTO_FIELD);
	dst->dtype = dtype;
	dst->rank = rank;
	for (size_t i = 0; i < rank; i++)
		dst->dims[i] = dims[i];
	if ((rc = eml_sdk_tensor_size(dst, &want)) != EML_OK || want != nbytes) {
		eml_err_set_detail("tensor data length disagrees with its shape and type");
		EML_FAIL(rc, EML_ERR_PROTO_FIELD);
	}
	nm = eml_strdup(name != NULL ? name : "");
	d = eml_alloc(nbytes == 0 ? 1 : nbytes);
	if (nm == NULL || d == NULL)
		EML_FAIL(rc, EML_ERR_NOMEM);
	EML_MEMCPY(d, data, nbytes);
	dst->name = nm;
	dst->data = d;
	dst->nbytes = nbytes;
	nm = NULL;
	d = NULL; /* transferred */
	rc = EML_OK;
out:
	eml_free(nm);
	eml_free(d);
	if (rc != EML_OK)
		memset(dst, 0, sizeof(*dst));
	return rc;
}

EML_API int
eml_client_tensor_load(const char *path, struct eml_client_tensor **out)
{
	eml_err rc = EML_ERR_INTERNAL;
	struct eml_tensor t;
	struct eml_client_tensor *ct = NULL;
	uint64_t dims[EML_MAX_RANK];

	memset(&t, 0, sizeof(t));
	eml_err_clear_detail();
	if (path == NULL || out == NULL)
		EML_FAIL(rc, EML_ERR_USAGE);
	*out = NULL;
	if ((rc = eml_onnx_tensor_read_file(path, &t)) != EML_OK)
		goto out;
	if (t.rank < 0 || t.rank > EML_MAX_RANK)
		EML_FAIL(rc, EML_ERR_MODEL);
	for (int i = 0; i < t.rank; i++)
		dims[i] = (uint64_t)t.dims[i];
	ct = eml_calloc(1, sizeof(*ct));
	if (ct == NULL)
		EML_FAIL(rc, EML_ERR_NOMEM);
	if ((rc = eml_sdk_tensor_fill(ct, t.name, (int)t.dtype, (size_t)t.rank, dims, t.data,
	    t.nbytes)) != EML_OK)
		goto out;
	*out = ct;
	ct = NULL; /* transferred */
	rc = EML_OK;
out:
	eml_tensor_clear(&t);
	eml_free(ct);
	eml_sdk_note(NULL, rc);
	return (int)rc;
}

EML_API int
eml_client_tensor_save(const char *path, const struct eml_client_tensor *ct)
{
	eml_err rc = EML_ERR_INTERNAL;
	struct eml_tensor t;
	size_t want = 0;

	memset(&t, 0, sizeof(t));
	eml_err_clear_detail();
	if (path == NULL || ct == NULL || (ct->data == NULL && ct->nbytes != 0))
		EML_FAIL(rc, EML_ERR_USAGE);
	if ((rc = eml_sdk_tensor_size(ct, &want)) != EML_OK)
		goto out;
	if (want != ct->nbytes) {
		eml_err_set_detail("tensor data length disagrees with its shape and type");
		EML_FAIL(rc, EML_ERR_USAGE);
	}
	/* A view: the writer only reads. */
	t.name = (char *)(uintptr_t)(ct->name != NULL ? ct->name : "");
	t.dtype = (enum eml_dtype)ct->dtype;
	t.rank = (int)ct->rank;
	for (size_t i = 0; i < ct->rank; i++)
		t.dims[i] = (int64_t)ct->dims[i];
	t.data = (void *)(uintptr_t)ct->data;
	t.nbytes = ct->nbytes;
	t.owned = false;
	rc = eml_onnx_tensor_write_file(&t, path);
out:
	eml_sdk_note(NULL, rc);
	return (int)rc;
}

/* A small secret file, whole, into eml_secure_alloc memory. */
static eml_err
read_secret_file(const char *path, size_t max, uint8_t **data, size_t *len)
{
	eml_err rc = eml_file_read(path, max, EML_FILE_SECRET | EML_FILE_NONEMPTY, data, len);

	return rc == EML_ERR_FILE_TOO_LARGE ? EML_ERR_FILE : rc;
}

EML_API int
eml_client_model_open(const char *dir, struct eml_client_model **out)
{
	eml_err rc = EML_ERR_INTERNAL;
	struct eml_client_model *m = NULL;
	char path[4096];
	struct stat st;

	eml_err_clear_detail();
	if (dir == NULL || out == NULL)
		EML_FAIL(rc, EML_ERR_USAGE);
	*out = NULL;
	m = eml_calloc(1, sizeof(*m));
	if (m == NULL)
		EML_FAIL(rc, EML_ERR_NOMEM);
	if ((size_t)snprintf(path, sizeof(path), "%s/model.topo", dir) >= sizeof(path))
		EML_FAIL(rc, EML_ERR_USAGE);
	if ((rc = read_secret_file(path, EML_SDK_TOPO_MAX, &m->topo, &m->topo_len)) != EML_OK)
		goto out;
	if (crypto_hash_sha256(m->topo_digest, m->topo, m->topo_len) != 0)
		EML_FAIL(rc, EML_ERR_CRYPTO);
	/* The publisher signature is optional and public. */
	if ((size_t)snprintf(path, sizeof(path), "%s/model.sig", dir) >= sizeof(path))
		EML_FAIL(rc, EML_ERR_USAGE);
	if (stat(path, &st) == 0 &&
	    (rc = read_secret_file(path, 4096, &m->sig, &m->sig_len)) != EML_OK)
		goto out;
	*out = m;
	m = NULL; /* transferred */
	rc = EML_OK;
out:
	eml_client_model_close(m);
	eml_sdk_note(NULL, rc);
	return (int)rc;
}

EML_API void
eml_client_model_close(struct eml_client_model *m)
{
	if (m == NULL)
		return;
	eml_secure_free(m->topo);
	eml_secure_free(m->sig);
	eml_free_wipe(m, sizeof(*m));
}
