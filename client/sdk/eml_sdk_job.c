/*
 * libeml asynchronous jobs (include/eml/eml.h, docs/PROTOCOL.md section
 * 6): the job key over an attested session, the one-shot seal of a job,
 * the opening of its result, and the proxy's HTTP job API.
 *
 * A ticket is what the client keeps to open the result later: magic
 * "EMT1", the job id, the reply secret key and the SHA-256 of the sealed
 * job (the result is bound to it). It is a secret: whoever holds it can
 * read the result.
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>
#include <sodium.h>

#include "client/sdk/eml_sdk_int.h"
#include "eml_frame.h"
#include "eml_io.h"
#include "eml_jobseal.h"
#include "eml_mem.h"
#include "eml_num.h"

#define HTTP_RESPONSE_MAX ((size_t)200 << 20)
#define HTTP_TIMEOUT_MS 30000

_Static_assert(EML_CLIENT_JOB_ID_LEN == EML_JOB_ID_LEN, "job id sizes");
_Static_assert(EML_CLIENT_JOB_TICKET_LEN == 4 + EML_JOB_ID_LEN + 32 + 32, "ticket size");

static const uint8_t ticket_magic[4] = { 'E', 'M', 'T', '1' };

static eml_err
job_key(struct eml_client *c, uint8_t pk[32])
{
	eml_err rc = EML_ERR_INTERNAL;
	Eml__V1__JobKeyRequest req = EML__V1__JOB_KEY_REQUEST__INIT;
	ProtobufCMessage *m = NULL;
	const Eml__V1__JobKeyResponse *r;
	struct eml_buf pt, ans;

	eml_buf_init(&pt, 64);
	eml_buf_init(&ans, 256);
	if ((rc = eml_msg_pack(&req.base, &pt)) != EML_OK)
		goto out;
	/* A JobKeyRequest packs to nothing; the channel needs no body. */
	if ((rc = eml_sdk_sealed_call(c, EML_MSG_JOB_KEY_REQUEST, pt.data, pt.len,
	    EML_MSG_JOB_KEY_RESPONSE, &ans)) != EML_OK)
		goto out;
	if ((rc = eml_msg_unpack(&eml__v1__job_key_response__descriptor, ans.data, ans.len, 128,
	    &m)) != EML_OK)
		goto out;
	r = (const Eml__V1__JobKeyResponse *)m;
	if (r->public_key.len != 32) {
		eml_err_set_detail("job key of %zu bytes", r->public_key.len);
		EML_FAIL(rc, EML_ERR_PROTO_FIELD);
	}
	EML_MEMCPY(pk, r->public_key.data, 32);
	rc = EML_OK;
out:
	eml_msg_free(m);
	eml_buf_free(&pt);
	eml_buf_free(&ans);
	return rc;
}

static eml_err
encode_job(const struct eml_client_model *m, const struct eml_client_tensor *inputs, size_t n,
    const uint8_t reply_pk[32], struct eml_buf *pt)
{
	eml_err rc = EML_ERR_INTERNAL;
	Eml__V1__JobRequest req = EML__V1__JOB_REQUEST__INIT;
	struct eml_sdk_tensor_views v;

	if ((rc = eml_sdk_tensor_views(inputs, n, &v)) != EML_OK)
		goto out;
	eml_sdk_model_fields(m, &req.topology_key, &req.model_signature);
	req.n_inputs = n;
	req.inputs = v.tp;
	req.reply_public_key.data = (uint8_t *)(uintptr_t)reply_pk;
	req.reply_public_key.len = 32;
	rc = eml_msg_pack(&req.base, pt);
out:
	return rc;
}

EML_API int
eml_client_job_seal(struct eml_client *c, const struct eml_client_model *m,
    const struct eml_client_tensor *inputs, size_t n_inputs,
    uint8_t job_id[EML_CLIENT_JOB_ID_LEN], uint8_t ticket[EML_CLIENT_JOB_TICKET_LEN],
    uint8_t **sealed, size_t *sealed_len)
{
	eml_err rc = EML_ERR_INTERNAL;
	uint8_t job_pk[32], reply_pk[32], zero[32];
	uint8_t *reply_sk = NULL;
	struct eml_buf pt, out;
	uint8_t *copy = NULL;
	bool any = false;

	eml_err_clear_detail();
	eml_buf_init_secure(&pt, EML_FRAME_MAX_DEFAULT);
	eml_buf_init(&out, EML_FRAME_MAX_DEFAULT);
	if (sealed != NULL)
		*sealed = NULL;
	if (sealed_len != NULL)
		*sealed_len = 0;
	if (c == NULL || m == NULL || job_id == NULL || ticket == NULL || sealed == NULL ||
	    sealed_len == NULL || (inputs == NULL && n_inputs != 0))
		EML_FAIL(rc, EML_ERR_USAGE);
	if (c->state != EML_SDK_ATTESTED)
		EML_FAIL(rc, EML_ERR_SESSION_NOT_ATTESTED);
	reply_sk = eml_secure_alloc(32);
	if (reply_sk == NULL)
		EML_FAIL(rc, EML_ERR_NOMEM);
	for (size_t i = 0; i < EML_CLIENT_JOB_ID_LEN; i++)
		any = any || job_id[i] != 0;
	if (!any)
		randombytes_buf(job_id, EML_CLIENT_JOB_ID_LEN);
	/* The job key comes over the attested session: as authentic as the
	 * document the session was bound to. */
	if ((rc = job_key(c, job_pk)) != EML_OK)
		goto out;
	if ((rc = eml_jobseal_keypair(reply_pk, reply_sk)) != EML_OK)
		goto out;
	if ((rc = encode_job(m, inputs, n_inputs, reply_pk, &pt)) != EML_OK)
		goto out;
	memset(zero, 0, sizeof(zero));
	if ((rc = eml_jobseal_seal(EML_JOBSEAL_JOB, job_id, job_pk, zero, pt.data, pt.len,
	    &out)) != EML_OK)
		goto out;
	copy = eml_alloc(out.len);
	if (copy == NULL)
		EML_FAIL(rc, EML_ERR_NOMEM);
	EML_MEMCPY(copy, out.data, out.len);
	EML_MEMCPY(ticket, ticket_magic, 4);
	EML_MEMCPY(ticket + 4, job_id, EML_JOB_ID_LEN);
	EML_MEMCPY(ticket + 4 + EML_JOB_ID_LEN, reply_sk, 32);
	crypto_hash_sha256(ticket + 4 + EML_JOB_ID_LEN + 32, out.data, out.len);
	*sealed = copy;
	*sealed_len = out.len;
	rc = EML_OK;
out:
	if (reply_sk != NULL)
		eml_secure_free(reply_sk);
	eml_buf_free(&pt);
	eml_buf_free_nowipe(&out);
	eml_sdk_note(c, rc);
	return (int)rc;
}

/* Decode an InferResponse into caller-owned tensors (as eml_client_infer). */
static eml_err
decode_outputs(const uint8_t *p, size_t n, struct eml_client_tensor **outs, size_t *n_outs)
{
	eml_err rc = EML_ERR_INTERNAL;
	ProtobufCMessage *m = NULL;
	const Eml__V1__InferResponse *r;

	if ((rc = eml_msg_unpack(&eml__v1__infer_response__descriptor, p, n, n, &m)) != EML_OK)
		goto out;
	r = (const Eml__V1__InferResponse *)m;
	rc = eml_sdk_outputs_copy(r, outs, n_outs);
out:
	eml_msg_free(m);
	return rc;
}

EML_API int
eml_client_job_open(const uint8_t ticket[EML_CLIENT_JOB_TICKET_LEN], const uint8_t *result,
    size_t n, struct eml_client_tensor **outs, size_t *n_outs)
{
	eml_err rc = EML_ERR_INTERNAL;
	uint8_t pk[32];
	struct eml_buf pt;
	ProtobufCMessage *m = NULL;
	const Eml__V1__JobResult *jr;

	eml_err_clear_detail();
	eml_buf_init_secure(&pt, EML_FRAME_MAX_DEFAULT);
	if (outs != NULL)
		*outs = NULL;
	if (n_outs != NULL)
		*n_outs = 0;
	if (ticket == NULL || result == NULL || outs == NULL || n_outs == NULL)
		EML_FAIL(rc, EML_ERR_USAGE);
	if ((rc = eml_mem_init()) != EML_OK)
		goto out;
	if (memcmp(ticket, ticket_magic, 4) != 0) {
		eml_err_set_detail("not a job ticket");
		EML_FAIL(rc, EML_ERR_USAGE);
	}
	if ((rc = eml_jobseal_public(ticket + 4 + EML_JOB_ID_LEN, pk)) != EML_OK)
		goto out;
	/* Only the enclave learned the reply key's public half (inside the
	 * job seal), so only it can have sealed this; the binding ties it to
	 * the exact job we sent. */
	if ((rc = eml_jobseal_open(EML_JOBSEAL_RESULT, ticket + 4, ticket + 4 + EML_JOB_ID_LEN,
	    pk, ticket + 4 + EML_JOB_ID_LEN + 32, result, n, &pt)) != EML_OK)
		goto out;
	if ((rc = eml_msg_unpack(&eml__v1__job_result__descriptor, pt.data, pt.len, pt.len,
	    &m)) != EML_OK)
		goto out;
	jr = (const Eml__V1__JobResult *)m;
	if (jr->code != 0) {
		/* The enclave's refusal, sealed: its stable code is ours. */
		rc = jr->code < 1000 ? (eml_err)jr->code : EML_ERR_PROTO_FIELD;
		eml_err_set_detail("the enclave refused the job");
		goto out;
	}
	rc = decode_outputs(jr->response.data, jr->response.len, outs, n_outs);
out:
	eml_msg_free(m);
	eml_buf_free(&pt);
	sodium_memzero(pk, sizeof(pk));
	eml_sdk_note(NULL, rc);
	return (int)rc;
}

/* ---------------------------------------------------------------- HTTP */

static eml_err
http(const char *addr, const char *method, const char *path, const uint8_t *body, size_t n,
    int *status, struct eml_buf *resp)
{
	eml_err rc = EML_ERR_INTERNAL;
	struct eml_addr a;
	char buf[EML_ADDR_STR_MAX + 8], head[512];
	int fd = -1, hn;
	int64_t deadline = eml_deadline_in_ms(HTTP_TIMEOUT_MS);
	const char *sep;
	struct eml_buf raw;

	eml_buf_init(&raw, HTTP_RESPONSE_MAX);
	if (strncmp(addr, "tcp:", 4) == 0)
		(void)snprintf(buf, sizeof(buf), "%s", addr);
	else
		(void)snprintf(buf, sizeof(buf), "tcp:%s", addr);
	if ((rc = eml_addr_parse(buf, &a)) != EML_OK)
		goto out;
	if ((rc = eml_transport_connect(&a, deadline, &fd)) != EML_OK)
		goto out;
	hn = snprintf(head, sizeof(head), "%s %s HTTP/1.1\r\nHost: eml\r\nConnection: close\r\n"
	    "Content-Type: application/octet-stream\r\nContent-Length: %zu\r\n\r\n", method, path,
	    n);
	if ((rc = eml_io_write_full(fd, head, (size_t)hn, deadline)) != EML_OK)
		goto out;
	if (n > 0 && (rc = eml_io_write_full(fd, body, n, deadline)) != EML_OK)
		goto out;
	for (;;) {
		uint8_t *w = NULL;
		ssize_t r;

		if ((rc = eml_io_wait(fd, POLLIN, deadline)) != EML_OK)
			goto out;
		if ((rc = eml_buf_extend(&raw, 65536, &w)) != EML_OK) {
			eml_err_set_detail("HTTP response above %zu bytes", HTTP_RESPONSE_MAX);
			goto out;
		}
		r = read(fd, w, 65536);
		if (r < 0 && (errno == EINTR || errno == EAGAIN)) {
			raw.len -= 65536;
			continue;
		}
		if (r < 0) {
			eml_err_set_detail("HTTP read: %s", strerror(errno));
			EML_FAIL(rc, EML_ERR_IO);
		}
		raw.len -= 65536 - (size_t)r;
		if (r == 0)
			break;
	}
	if (raw.len == 0) {
		eml_err_set_detail("the job API closed the connection without an answer");
		EML_FAIL(rc, EML_ERR_IO_EOF);
	}
	if ((rc = eml_buf_append_u8(&raw, 0)) != EML_OK)
		goto out;
	raw.len--;
	if (raw.len < 12 || strncmp((const char *)raw.data, "HTTP/1.", 7) != 0 ||
	    (sep = strstr((const char *)raw.data, "\r\n\r\n")) == NULL) {
		eml_err_set_detail("not an HTTP response");
		EML_FAIL(rc, EML_ERR_PROTO);
	}
	{
		uint64_t code = 0;

		if (eml_num_u64n((const char *)raw.data + 9, 3, 100, 599, &code) != EML_OK) {
			eml_err_set_detail("HTTP status line malformed");
			EML_FAIL(rc, EML_ERR_PROTO);
		}
		*status = (int)code;
	}
	sep += 4;
	rc = eml_buf_append(resp, sep, raw.len - (size_t)((const uint8_t *)sep - raw.data));
out:
	if (fd >= 0)
		(void)close(fd);
	eml_buf_free_nowipe(&raw);
	return rc;
}

/* The "status" and "code" of a job API answer; the result when present. */
static eml_err
parse_answer(int http_status, const struct eml_buf *b, char status[16], int *code,
    uint8_t **result, size_t *rn)
{
	json_error_t je;
	json_t *j = json_loadb((const char *)b->data, b->len, 0, &je);
	const char *st, *res;
	eml_err rc = EML_ERR_INTERNAL;

	if (j == NULL || !json_is_object(j) ||
	    (st = json_string_value(json_object_get(j, "status"))) == NULL) {
		eml_err_set_detail("job API answered HTTP %d without a status", http_status);
		EML_FAIL(rc, EML_ERR_PROTO);
	}
	(void)snprintf(status, 16, "%s", st);
	*code = (int)json_integer_value(json_object_get(j, "code"));
	if (strcmp(st, "error") == 0) {
		rc = *code > 0 && *code < 1000 ? (eml_err)*code : EML_ERR_PROTO_PEER_ERROR;
		eml_err_set_detail("job API: HTTP %d", http_status);
		goto out;
	}
	res = json_string_value(json_object_get(j, "result"));
	if (res != NULL && result != NULL) {
		size_t cap = strlen(res) / 4 * 3 + 3, got = 0;
		uint8_t *p = eml_alloc(cap);

		if (p == NULL)
			EML_FAIL(rc, EML_ERR_NOMEM);
		if (sodium_base642bin(p, cap, res, strlen(res), NULL, &got, NULL,
		    sodium_base64_VARIANT_ORIGINAL) != 0) {
			eml_free(p);
			eml_err_set_detail("job result is not base64");
			EML_FAIL(rc, EML_ERR_PROTO);
		}
		*result = p;
		*rn = got;
	}
	rc = EML_OK;
out:
	json_decref(j);
	return rc;
}

EML_API int
eml_client_job_submit(const char *jobs_addr, const uint8_t *sealed, size_t n, char status[16])
{
	eml_err rc = EML_ERR_INTERNAL;
	struct eml_buf b;
	int hs = 0, code = 0;

	eml_err_clear_detail();
	eml_buf_init(&b, HTTP_RESPONSE_MAX);
	if (jobs_addr == NULL || sealed == NULL || n == 0 || status == NULL)
		EML_FAIL(rc, EML_ERR_USAGE);
	status[0] = '\0';
	if ((rc = http(jobs_addr, "POST", "/v1/jobs", sealed, n, &hs, &b)) != EML_OK)
		goto out;
	rc = parse_answer(hs, &b, status, &code, NULL, NULL);
out:
	eml_buf_free_nowipe(&b);
	eml_sdk_note(NULL, rc);
	return (int)rc;
}

EML_API int
eml_client_job_status(const char *jobs_addr, const uint8_t job_id[EML_CLIENT_JOB_ID_LEN],
    char status[16], int *job_code, uint8_t **result, size_t *result_len)
{
	eml_err rc = EML_ERR_INTERNAL;
	struct eml_buf b;
	char path[64], hex[2 * EML_CLIENT_JOB_ID_LEN + 1];
	int hs = 0, code = 0;

	eml_err_clear_detail();
	eml_buf_init(&b, HTTP_RESPONSE_MAX);
	if (result != NULL)
		*result = NULL;
	if (result_len != NULL)
		*result_len = 0;
	if (jobs_addr == NULL || job_id == NULL || status == NULL ||
	    (result != NULL && result_len == NULL))
		EML_FAIL(rc, EML_ERR_USAGE);
	status[0] = '\0';
	eml_hex_encode(hex, job_id, EML_CLIENT_JOB_ID_LEN);
	(void)snprintf(path, sizeof(path), "/v1/jobs/%s", hex);
	if ((rc = http(jobs_addr, "GET", path, NULL, 0, &hs, &b)) != EML_OK)
		goto out;
	rc = parse_answer(hs, &b, status, &code, result, result_len);
	if (job_code != NULL)
		*job_code = code;
out:
	eml_buf_free_nowipe(&b);
	eml_sdk_note(NULL, rc);
	return (int)rc;
}

EML_API void
eml_client_free(void *p)
{
	eml_free(p);
}
