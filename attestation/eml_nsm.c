#include "eml_nsm.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "eml_attest.h"
#include "eml_cbor.h"
#include "eml_mem.h"

_Static_assert(sizeof(struct eml_nsm_raw) == 32, "struct nsm_raw is 32 bytes");
_Static_assert(_IOWR(0x0A, 0, struct eml_nsm_raw) == EML_NSM_IOCTL_RAW,
    "NSM_IOCTL_RAW = _IOWR(0x0A, 0, struct nsm_raw)");

struct eml_nsm {
	int fd;
	eml_nsm_xfer_fn xfer;
	void *ctx;
	uint8_t resp[EML_NSM_RESPONSE_MAX];
};

static int
ioctl_xfer(void *ctx, int fd, unsigned long request, struct eml_nsm_raw *raw)
{
	(void)ctx;
	for (;;) {
		if (ioctl(fd, request, raw) == 0)
			return 0;
		if (errno != EINTR)
			return errno;
	}
}

static eml_err
nsm_new(int fd, eml_nsm_xfer_fn xfer, void *ctx, struct eml_nsm **out)
{
	struct eml_nsm *nsm = eml_calloc(1, sizeof(*nsm));

	EML_ENSURE(nsm != NULL, EML_ERR_NOMEM);
	nsm->fd = fd;
	nsm->xfer = xfer;
	nsm->ctx = ctx;
	*out = nsm;
	return EML_OK;
}

eml_err
eml_nsm_open(const char *path, struct eml_nsm **out)
{
	int fd;
	eml_err rc;

	EML_ENSURE_REF(out);
	*out = NULL;
	if (path == NULL)
		path = EML_NSM_DEVICE;
	fd = open(path, O_RDWR | O_CLOEXEC);
	if (fd < 0) {
		eml_err_set_detail("%s: %s%s", path, strerror(errno),
		    errno == ENOENT ? " (the NSM exists only inside a Nitro enclave)" : "");
		EML_BAIL(EML_ERR_ATTEST_NSM_DEVICE);
	}
	rc = nsm_new(fd, ioctl_xfer, NULL, out);
	if (rc != EML_OK)
		(void)close(fd);
	return rc;
}

eml_err
eml_nsm_open_with(eml_nsm_xfer_fn xfer, void *ctx, struct eml_nsm **out)
{
	EML_ENSURE_REF(xfer);
	EML_ENSURE_REF(out);
	*out = NULL;
	return nsm_new(-1, xfer, ctx, out);
}

void
eml_nsm_close(struct eml_nsm *nsm)
{
	if (nsm == NULL)
		return;
	if (nsm->fd >= 0)
		(void)close(nsm->fd);
	/* The response buffer held documents and random bytes. */
	eml_free_wipe(nsm, sizeof(*nsm));
}

/*
 * Send req, decode the answer, and check it is {variant: body} with body a
 * map (*body points into *tree, which the caller releases). An
 * {"Error": "<code>"} answer becomes EML_ERR_ATTEST_NSM_ERROR.
 */
static eml_err
transact(struct eml_nsm *nsm, const struct eml_buf *req, const char *variant,
    struct eml_cbor_item **tree, const struct eml_cbor_item **body)
{
	struct eml_nsm_raw raw;
	struct eml_cur c;
	const struct eml_cbor_item *key;
	const struct eml_cbor_item *val;
	struct eml_cbor_item *top = NULL;
	eml_err rc;
	int err;

	*tree = NULL;
	*body = NULL;
	if (req->len > EML_NSM_REQUEST_MAX) {
		eml_err_set_detail("request is %zu bytes, the NSM takes %d", req->len,
		    EML_NSM_REQUEST_MAX);
		EML_BAIL(EML_ERR_ATTEST_NSM_INPUT);
	}
	memset(&raw, 0, sizeof(raw));
	raw.request_addr = (uint64_t)(uintptr_t)req->data;
	raw.request_len = req->len;
	raw.response_addr = (uint64_t)(uintptr_t)nsm->resp;
	raw.response_len = sizeof(nsm->resp);
	err = nsm->xfer(nsm->ctx, nsm->fd, EML_NSM_IOCTL_RAW, &raw);
	if (err == EMSGSIZE) {
		eml_err_set_detail("the driver refused the request size");
		EML_BAIL(EML_ERR_ATTEST_NSM_INPUT);
	}
	if (err != 0) {
		eml_err_set_detail("NSM ioctl: %s", strerror(err));
		EML_BAIL(EML_ERR_ATTEST_NSM_DEVICE);
	}
	/* The driver writes back how many bytes it put in our buffer. */
	if (raw.response_len == 0 || raw.response_len > sizeof(nsm->resp)) {
		eml_err_set_detail("response length %llu outside 1..%zu",
		    (unsigned long long)raw.response_len, sizeof(nsm->resp));
		EML_BAIL(EML_ERR_ATTEST_NSM_RESPONSE);
	}
	c = eml_cur_make(nsm->resp, (size_t)raw.response_len);
	rc = eml_cbor_decode(&c, &top);
	if (rc == EML_ERR_NOMEM)
		return rc;
	if (rc != EML_OK)
		EML_BAIL(EML_ERR_ATTEST_NSM_RESPONSE);
	if (c.left != 0 || !eml_cbor_is_map(top) || eml_cbor_map_size(top) != 1) {
		eml_cbor_free(&top);
		eml_err_set_detail("response is not a one-entry map");
		EML_BAIL(EML_ERR_ATTEST_NSM_RESPONSE);
	}
	key = eml_cbor_map_key(top, 0);
	val = eml_cbor_map_value(top, 0);
	if (eml_cbor_text_eq(key, "Error")) {
		char code[33] = "?";
		const char *s;
		size_t n;

		if (eml_cbor_get_text(val, &s, &n) == EML_OK) {
			if (n > sizeof(code) - 1)
				n = sizeof(code) - 1;
			for (size_t i = 0; i < n; i++)
				code[i] = (s[i] >= 0x20 && s[i] < 0x7f) ? s[i] : '?';
			code[n] = '\0';
		}
		eml_cbor_free(&top);
		eml_err_set_detail("NSM %s: %s", variant, code);
		EML_BAIL(EML_ERR_ATTEST_NSM_ERROR);
	}
	if (!eml_cbor_text_eq(key, variant) || eml_cbor_map_check(val, true, 4) != EML_OK) {
		eml_cbor_free(&top);
		eml_err_set_detail("response is not {\"%s\": {...}}", variant);
		EML_BAIL(EML_ERR_ATTEST_NSM_RESPONSE);
	}
	*tree = top;
	*body = val;
	return EML_OK;
}

/* The body must have exactly the named keys. */
static eml_err
body_keys(const struct eml_cbor_item *body, size_t nkeys)
{
	if (eml_cbor_map_size(body) != nkeys) {
		eml_err_set_detail("response body has %zu keys, want %zu", eml_cbor_map_size(body),
		    nkeys);
		EML_BAIL(EML_ERR_ATTEST_NSM_RESPONSE);
	}
	return EML_OK;
}

static eml_err
body_bytes(const struct eml_cbor_item *body, const char *key, size_t min, size_t max,
    const uint8_t **p, size_t *n)
{
	const struct eml_cbor_item *it = eml_cbor_map_get(body, key);

	if (it == NULL || eml_cbor_get_bytes(it, p, n) != EML_OK || *n < min || *n > max) {
		eml_err_set_detail("response %s missing, not bytes, or not %zu..%zu bytes", key, min,
		    max);
		EML_BAIL(EML_ERR_ATTEST_NSM_RESPONSE);
	}
	return EML_OK;
}

eml_err
eml_nsm_attest(struct eml_nsm *nsm, const uint8_t *user_data, size_t user_data_len,
    const uint8_t *nonce, size_t nonce_len, const uint8_t *public_key, size_t public_key_len,
    struct eml_buf *doc)
{
	eml_err rc = EML_ERR_INTERNAL;
	struct eml_buf req;
	struct eml_cbor_item *tree = NULL;
	const struct eml_cbor_item *body;
	const uint8_t *p;
	size_t n;

	eml_buf_init(&req, EML_NSM_REQUEST_MAX + 64);
	if (nsm == NULL || doc == NULL)
		EML_FAIL(rc, EML_ERR_NULL);
	/* nsm-api: Request::Attestation { user_data, nonce, public_key }. */
	if ((rc = eml_cbor_put_head(&req, EML_CBOR_MAP, 1)) != EML_OK ||
	    (rc = eml_cbor_put_text(&req, "Attestation")) != EML_OK ||
	    (rc = eml_cbor_put_head(&req, EML_CBOR_MAP, 3)) != EML_OK ||
	    (rc = eml_cbor_put_text(&req, "user_data")) != EML_OK ||
	    (rc = eml_cbor_put_bytes_or_null(&req, user_data, user_data_len)) != EML_OK ||
	    (rc = eml_cbor_put_text(&req, "nonce")) != EML_OK ||
	    (rc = eml_cbor_put_bytes_or_null(&req, nonce, nonce_len)) != EML_OK ||
	    (rc = eml_cbor_put_text(&req, "public_key")) != EML_OK ||
	    (rc = eml_cbor_put_bytes_or_null(&req, public_key, public_key_len)) != EML_OK) {
		if (rc == EML_ERR_PROTO_TOO_LARGE)
			rc = EML_ERR_ATTEST_NSM_INPUT;
		goto out;
	}
	if ((rc = transact(nsm, &req, "Attestation", &tree, &body)) != EML_OK ||
	    (rc = body_keys(body, 1)) != EML_OK ||
	    (rc = body_bytes(body, "document", 1, EML_ATTEST_DOC_MAX, &p, &n)) != EML_OK)
		goto out;
	rc = eml_buf_append(doc, p, n);
out:
	eml_cbor_free(&tree);
	eml_buf_free(&req);
	return rc;
}

eml_err
eml_nsm_describe_pcr(struct eml_nsm *nsm, unsigned index, bool *locked, uint8_t data[64],
    size_t *len)
{
	eml_err rc = EML_ERR_INTERNAL;
	struct eml_buf req;
	struct eml_cbor_item *tree = NULL;
	const struct eml_cbor_item *body;
	const struct eml_cbor_item *lock;
	const uint8_t *p;
	size_t n;

	eml_buf_init(&req, 64);
	if (nsm == NULL || locked == NULL || data == NULL || len == NULL)
		EML_FAIL(rc, EML_ERR_NULL);
	if (index > 0xffff) {
		eml_err_set_detail("PCR index %u is not a u16", index);
		EML_FAIL(rc, EML_ERR_ATTEST_NSM_INPUT);
	}
	if ((rc = eml_cbor_put_head(&req, EML_CBOR_MAP, 1)) != EML_OK ||
	    (rc = eml_cbor_put_text(&req, "DescribePCR")) != EML_OK ||
	    (rc = eml_cbor_put_head(&req, EML_CBOR_MAP, 1)) != EML_OK ||
	    (rc = eml_cbor_put_text(&req, "index")) != EML_OK ||
	    (rc = eml_cbor_put_head(&req, EML_CBOR_UINT, index)) != EML_OK)
		goto out;
	if ((rc = transact(nsm, &req, "DescribePCR", &tree, &body)) != EML_OK ||
	    (rc = body_keys(body, 2)) != EML_OK ||
	    (rc = body_bytes(body, "data", 32, 64, &p, &n)) != EML_OK)
		goto out;
	lock = eml_cbor_map_get(body, "lock");
	if (lock == NULL || eml_cbor_get_bool(lock, locked) != EML_OK || (n != 32 && n != 48 && n != 64)) {
		eml_err_set_detail("DescribePCR: lock not a bool or data not 32/48/64 bytes");
		EML_FAIL(rc, EML_ERR_ATTEST_NSM_RESPONSE);
	}
	EML_MEMCPY(data, p, n);
	*len = n;
	rc = EML_OK;
out:
	eml_cbor_free(&tree);
	eml_buf_free(&req);
	return rc;
}

eml_err
eml_nsm_get_random(struct eml_nsm *nsm, uint8_t *out, size_t n)
{
	eml_err rc = EML_ERR_INTERNAL;
	struct eml_buf req;
	struct eml_cbor_item *tree = NULL;
	const struct eml_cbor_item *body;
	const uint8_t *p;
	size_t got;

	eml_buf_init(&req, 64);
	if (nsm == NULL || (out == NULL && n != 0))
		EML_FAIL(rc, EML_ERR_NULL);
	/* A unit variant is a bare text string (serde externally tagged). */
	if ((rc = eml_cbor_put_text(&req, "GetRandom")) != EML_OK)
		goto out;
	while (n > 0) {
		if ((rc = transact(nsm, &req, "GetRandom", &tree, &body)) != EML_OK ||
		    (rc = body_keys(body, 1)) != EML_OK ||
		    (rc = body_bytes(body, "random", 1, 256, &p, &got)) != EML_OK)
			goto out;
		if (got > n)
			got = n;
		EML_MEMCPY(out, p, got);
		out += got;
		n -= got;
		eml_cbor_free(&tree);
	}
	rc = EML_OK;
out:
	eml_cbor_free(&tree);
	if (nsm != NULL)
		eml_wipe(nsm->resp, sizeof(nsm->resp));
	eml_buf_free(&req);
	return rc;
}

/* ---------------------------------------------------------------- producer */

static eml_err
nsm_p_attest(void *ctx, const uint8_t *ud, size_t udl, const uint8_t *nonce, size_t nl,
    const uint8_t *pk, size_t pkl, struct eml_buf *doc)
{
	return eml_nsm_attest(ctx, ud, udl, nonce, nl, pk, pkl, doc);
}

static eml_err
nsm_p_describe_pcr(void *ctx, unsigned index, bool *locked, uint8_t data[64], size_t *len)
{
	return eml_nsm_describe_pcr(ctx, index, locked, data, len);
}

static eml_err
nsm_p_get_random(void *ctx, uint8_t *out, size_t n)
{
	return eml_nsm_get_random(ctx, out, n);
}

static void
nsm_p_close(void *ctx)
{
	eml_nsm_close(ctx);
}

void
eml_nsm_producer(struct eml_nsm *nsm, struct eml_attest_producer *p)
{
	p->name = "nsm";
	p->ctx = nsm;
	p->attest = nsm_p_attest;
	p->describe_pcr = nsm_p_describe_pcr;
	p->get_random = nsm_p_get_random;
	p->close = nsm_p_close;
}
