/* The job queue's front (eml_jobq.h): argument checks, the backend
 * chosen by URL, the digest used for dedup. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "eml_jobq.h"
#include "eml_mem.h"

void
eml_jobq_config_defaults(struct eml_jobq_config *c)
{
	memset(c, 0, sizeof(*c));
	c->consumer = "proxy";
	c->visibility_ms = 120000;
	c->max_retries = 3;
	c->backoff_ms = 1000;
	c->result_ttl_ms = 24LL * 3600 * 1000;
}

int64_t
eml_jobq_backoff(const struct eml_jobq_config *c, unsigned attempt)
{
	int64_t d = c->backoff_ms;

	for (unsigned i = 1; i < attempt && d < 3600000; i++)
		d *= 2;
	return d;
}

static eml_err
parse_redis(const char *url, char *host, size_t hn, int *port)
{
	const char *h = url + strlen("redis://");
	const char *colon = strrchr(h, ':');
	char *end = NULL;
	long p;

	if (colon == NULL || colon == h || (size_t)(colon - h) >= hn) {
		eml_err_set_detail("--jobs %s: want redis://HOST:PORT", url);
		EML_BAIL(EML_ERR_CONFIG);
	}
	p = strtol(colon + 1, &end, 10);
	if (end == colon + 1 || *end != '\0' || p < 1 || p > 65535) {
		eml_err_set_detail("--jobs %s: bad port", url);
		EML_BAIL(EML_ERR_CONFIG);
	}
	(void)snprintf(host, hn, "%.*s", (int)(colon - h), h);
	*port = (int)p;
	return EML_OK;
}

eml_err
eml_jobq_open(const struct eml_jobq_config *c, struct eml_jobq **out)
{
	eml_err rc = EML_ERR_INTERNAL;
	struct eml_jobq *q = NULL;

	EML_ENSURE(c != NULL && out != NULL && c->url != NULL, EML_ERR_NULL);
	*out = NULL;
	if (c->visibility_ms < 1 || c->backoff_ms < 0 || c->result_ttl_ms < 1 ||
	    c->max_retries > 100) {
		eml_err_set_detail("job queue timings out of range");
		EML_BAIL(EML_ERR_CONFIG);
	}
	q = eml_calloc(1, sizeof(*q));
	if (q == NULL)
		EML_BAIL(EML_ERR_NOMEM);
	q->cfg = *c;
	if (strncmp(c->url, "redis://", 8) == 0) {
		char host[256];
		int port = 0;

		if ((rc = parse_redis(c->url, host, sizeof(host), &port)) == EML_OK)
			rc = eml_jobq_redis_open(q, host, port);
	} else {
		rc = eml_jobq_sqlite_open(q, strncmp(c->url, "sqlite:", 7) == 0 ? c->url + 7 :
		    c->url);
	}
	if (rc != EML_OK) {
		eml_free(q);
		return rc;
	}
	*out = q;
	return EML_OK;
}

void
eml_jobq_close(struct eml_jobq *q)
{
	if (q == NULL)
		return;
	if (q->ops != NULL)
		q->ops->close(q);
	eml_free(q);
}

const char *
eml_jobq_backend(const struct eml_jobq *q)
{
	return q->ops->name;
}

eml_err
eml_jobq_put(struct eml_jobq *q, const uint8_t id[EML_JOBQ_ID_LEN], const uint8_t *body,
    size_t n, bool *created)
{
	uint8_t digest[32];

	EML_ENSURE(q != NULL && id != NULL && body != NULL && created != NULL, EML_ERR_NULL);
	if (n == 0 || n > EML_JOBQ_BODY_MAX) {
		eml_err_set_detail("job of %zu bytes", n);
		EML_BAIL(EML_ERR_PROTO_TOO_LARGE);
	}
	crypto_hash_sha256(digest, body, n);
	return q->ops->put(q, id, body, n, digest, created);
}

eml_err
eml_jobq_get(struct eml_jobq *q, const uint8_t id[EML_JOBQ_ID_LEN], struct eml_job_info *out)
{
	EML_ENSURE(q != NULL && id != NULL && out != NULL, EML_ERR_NULL);
	out->state = 0;
	out->attempts = 0;
	out->code = 0;
	eml_buf_reset(&out->result);
	return q->ops->get(q, id, out);
}

eml_err
eml_jobq_claim(struct eml_jobq *q, struct eml_job_claim *out, bool *got)
{
	EML_ENSURE(q != NULL && out != NULL && got != NULL, EML_ERR_NULL);
	*got = false;
	eml_buf_reset(&out->body);
	return q->ops->claim(q, out, got);
}

eml_err
eml_jobq_complete(struct eml_jobq *q, const struct eml_job_claim *c, const uint8_t *result,
    size_t n)
{
	EML_ENSURE(q != NULL && c != NULL && result != NULL && n > 0, EML_ERR_NULL);
	return q->ops->complete(q, c, result, n);
}

eml_err
eml_jobq_fail(struct eml_jobq *q, const struct eml_job_claim *c, eml_err code, bool permanent)
{
	EML_ENSURE(q != NULL && c != NULL, EML_ERR_NULL);
	return q->ops->fail(q, c, code, permanent);
}

eml_err
eml_jobq_expire(struct eml_jobq *q, size_t *removed)
{
	size_t dummy = 0;

	EML_ENSURE(q != NULL, EML_ERR_NULL);
	return q->ops->expire(q, removed != NULL ? removed : &dummy);
}
