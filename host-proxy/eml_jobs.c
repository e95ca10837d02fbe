/* Jobs in the proxy: HTTP API and workers (eml_jobs.h). */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <microhttpd.h>
#include <sodium.h>

#include "eml_envelope.h"
#include "eml_frame.h"
#include "eml_io.h"
#include "eml_jobs.h"
#include "eml_jobseal.h"
#include "eml_log.h"
#include "eml_mem.h"
#include "eml_transport.h"
#include "eml_wire.h"

#define JOBS_WORKERS_MAX 64u
#define JOBS_IDLE_MS 100
#define JOBS_EXPIRE_EVERY_MS 10000

struct eml_jobs {
	struct eml_jobs_config cfg;
	struct eml_jobq *q;
	struct eml_upstream_pool *pool;
	const struct eml_store *store;
	struct MHD_Daemon *mhd;
	int lfd;
	atomic_int stop;
	pthread_t th[JOBS_WORKERS_MAX];
	unsigned nth;
};

void
eml_jobs_config_defaults(struct eml_jobs_config *c)
{
	memset(c, 0, sizeof(*c));
	eml_jobq_config_defaults(&c->queue);
	c->workers = 2;
	c->run_ms = 60000;
	c->queue.visibility_ms = 2 * c->run_ms;
	c->frame_max = EML_FRAME_MAX_DEFAULT;
}

static const char *
state_name(enum eml_job_state s)
{
	switch (s) {
	case EML_JOB_QUEUED:
		return "queued";
	case EML_JOB_RUNNING:
		return "running";
	case EML_JOB_DONE:
		return "done";
	case EML_JOB_FAILED:
		return "failed";
	default:
		return "unknown";
	}
}

/* ---------------------------------------------------------------- HTTP */

struct req_ctx {
	struct eml_buf body;
	bool too_large;
};

static enum MHD_Result
reply(struct MHD_Connection *conn, unsigned status, const char *json, size_t n)
{
	struct MHD_Response *r;
	enum MHD_Result ret;

	r = MHD_create_response_from_buffer(n, (void *)(uintptr_t)json, MHD_RESPMEM_MUST_COPY);
	if (r == NULL)
		return MHD_NO;
	(void)MHD_add_response_header(r, "Content-Type", "application/json");
	ret = MHD_queue_response(conn, status, r);
	MHD_destroy_response(r);
	return ret;
}

static enum MHD_Result
reply_err(struct MHD_Connection *conn, unsigned status, const char *hex_id, eml_err code)
{
	char b[512];
	int n;

	n = snprintf(b, sizeof(b), "{\"job_id\":\"%s\",\"status\":\"error\",\"code\":%d,"
	    "\"error\":\"%s\"}\n", hex_id != NULL ? hex_id : "", (int)code, eml_err_name(code));
	return reply(conn, status, b, (size_t)n);
}

/* JSON of a job's state; the sealed result in base64 when done. */
static eml_err
status_json(const char *hex_id, const struct eml_job_info *ji, struct eml_buf *out)
{
	char head[256];
	int n;

	n = snprintf(head, sizeof(head), "{\"job_id\":\"%s\",\"status\":\"%s\",\"attempts\":%u",
	    hex_id, state_name(ji->state), ji->attempts);
	EML_GUARD(eml_buf_append(out, head, (size_t)n));
	if (ji->state == EML_JOB_FAILED) {
		n = snprintf(head, sizeof(head), ",\"code\":%u,\"error\":\"%s\"", ji->code,
		    eml_err_name((eml_err)ji->code));
		EML_GUARD(eml_buf_append(out, head, (size_t)n));
	}
	if (ji->state == EML_JOB_DONE) {
		size_t b64 = sodium_base64_ENCODED_LEN(ji->result.len,
		    sodium_base64_VARIANT_ORIGINAL);
		uint8_t *w = NULL;

		EML_GUARD(eml_buf_append(out, ",\"result\":\"", 11));
		EML_GUARD(eml_buf_extend(out, b64, &w));
		(void)sodium_bin2base64((char *)w, b64, ji->result.data, ji->result.len,
		    sodium_base64_VARIANT_ORIGINAL);
		out->len -= 1; /* the NUL */
		EML_GUARD(eml_buf_append(out, "\"", 1));
	}
	return eml_buf_append(out, "}\n", 2);
}

static enum MHD_Result
do_post(struct eml_jobs *j, struct MHD_Connection *conn, struct req_ctx *ctx)
{
	uint8_t id[EML_JOB_ID_LEN];
	char hex[2 * EML_JOB_ID_LEN + 1];
	struct eml_job_info ji;
	struct eml_buf out;
	bool created = false;
	eml_err rc;
	enum MHD_Result ret;

	if (ctx->too_large)
		return reply_err(conn, MHD_HTTP_CONTENT_TOO_LARGE, NULL, EML_ERR_PROTO_TOO_LARGE);
	if (eml_jobseal_peek(ctx->body.data, ctx->body.len, id) != EML_OK)
		return reply_err(conn, MHD_HTTP_BAD_REQUEST, NULL, EML_ERR_JOB_SEAL);
	eml_hex_encode(hex, id, sizeof(id));
	rc = eml_jobq_put(j->q, id, ctx->body.data, ctx->body.len, &created);
	if (rc == EML_ERR_JOB_CONFLICT) {
		EML_LOG_WARN("job.conflict", (const struct eml_cid *)(const void *)id,
		    EML_F_U64("bytes", ctx->body.len));
		return reply_err(conn, MHD_HTTP_CONFLICT, hex, rc);
	}
	if (rc != EML_OK) {
		EML_LOG_ERROR("job.put", (const struct eml_cid *)(const void *)id, EML_F_ERR(rc),
		    EML_F_STR("detail", eml_err_detail()));
		return reply_err(conn, MHD_HTTP_SERVICE_UNAVAILABLE, hex, rc);
	}
	EML_LOG_INFO("job.submitted", (const struct eml_cid *)(const void *)id,
	    EML_F_U64("bytes", ctx->body.len), EML_F_BOOL("new", created));
	if (created) {
		char b[128];
		int n = snprintf(b, sizeof(b), "{\"job_id\":\"%s\",\"status\":\"queued\"}\n", hex);

		return reply(conn, MHD_HTTP_ACCEPTED, b, (size_t)n);
	}
	/* The same job again: its current status. */
	memset(&ji, 0, sizeof(ji));
	eml_buf_init(&ji.result, EML_JOBQ_BODY_MAX);
	eml_buf_init(&out, 2 * EML_JOBQ_BODY_MAX);
	rc = eml_jobq_get(j->q, id, &ji);
	if (rc == EML_OK)
		rc = status_json(hex, &ji, &out);
	ret = rc == EML_OK ? reply(conn, MHD_HTTP_OK, (const char *)out.data, out.len) :
	    reply_err(conn, MHD_HTTP_SERVICE_UNAVAILABLE, hex, rc);
	eml_buf_free_nowipe(&ji.result);
	eml_buf_free_nowipe(&out);
	return ret;
}

static enum MHD_Result
do_get(struct eml_jobs *j, struct MHD_Connection *conn, const char *hex)
{
	uint8_t id[EML_JOB_ID_LEN];
	struct eml_job_info ji;
	struct eml_buf out;
	eml_err rc;
	enum MHD_Result ret;

	if (strlen(hex) != 2 * EML_JOB_ID_LEN || eml_hex_decode(id, sizeof(id), hex) != EML_OK)
		return reply_err(conn, MHD_HTTP_BAD_REQUEST, NULL, EML_ERR_USAGE);
	memset(&ji, 0, sizeof(ji));
	eml_buf_init(&ji.result, EML_JOBQ_BODY_MAX);
	eml_buf_init(&out, 2 * EML_JOBQ_BODY_MAX);
	rc = eml_jobq_get(j->q, id, &ji);
	if (rc == EML_OK)
		rc = status_json(hex, &ji, &out);
	if (rc == EML_OK)
		ret = reply(conn, MHD_HTTP_OK, (const char *)out.data, out.len);
	else if (rc == EML_ERR_JOB_NOT_FOUND)
		ret = reply_err(conn, MHD_HTTP_NOT_FOUND, hex, rc);
	else
		ret = reply_err(conn, MHD_HTTP_SERVICE_UNAVAILABLE, hex, rc);
	eml_buf_free_nowipe(&ji.result);
	eml_buf_free_nowipe(&out);
	return ret;
}

static enum MHD_Result
on_request(void *cls, struct MHD_Connection *conn, const char *url, const char *method,
    const char *version, const char *upload, size_t *upload_size, void **con_cls)
{
	struct eml_jobs *j = cls;
	struct req_ctx *ctx = *con_cls;

	(void)version;
	if (strcmp(method, "POST") == 0 && strcmp(url, "/v1/jobs") == 0) {
		if (ctx == NULL) {
			ctx = eml_calloc(1, sizeof(*ctx));
			if (ctx == NULL)
				return MHD_NO;
			eml_buf_init(&ctx->body, EML_JOBQ_BODY_MAX);
			*con_cls = ctx;
			return MHD_YES;
		}
		if (*upload_size > 0) {
			if (!ctx->too_large &&
			    eml_buf_append(&ctx->body, upload, *upload_size) != EML_OK)
				ctx->too_large = true;
			*upload_size = 0;
			return MHD_YES;
		}
		return do_post(j, conn, ctx);
	}
	if (strcmp(method, "GET") == 0 && strncmp(url, "/v1/jobs/", 9) == 0)
		return do_get(j, conn, url + 9);
	if (strcmp(url, "/v1/jobs") == 0 || strncmp(url, "/v1/jobs/", 9) == 0)
		return reply_err(conn, MHD_HTTP_METHOD_NOT_ALLOWED, NULL, EML_ERR_USAGE);
	return reply_err(conn, MHD_HTTP_NOT_FOUND, NULL, EML_ERR_USAGE);
}

static void
on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
    enum MHD_RequestTerminationCode toe)
{
	struct req_ctx *ctx = *con_cls;

	(void)cls;
	(void)conn;
	(void)toe;
	if (ctx != NULL) {
		eml_buf_free_nowipe(&ctx->body); /* sealed bytes */
		eml_free(ctx);
		*con_cls = NULL;
	}
}

/* ---------------------------------------------------------------- workers */

static eml_err
send_env(int fd, uint32_t type, const uint8_t *rid, const uint8_t *body, size_t n,
    size_t frame_max, struct eml_buf *tx)
{
	struct eml_envelope env;

	memset(&env, 0, sizeof(env));
	env.version = EML_PROTO_VERSION;
	env.type = type;
	EML_MEMCPY(env.request_id, rid, EML_REQUEST_ID_LEN);
	env.body = body;
	env.body_len = n;
	eml_buf_reset(tx);
	EML_GUARD(eml_envelope_pack(&env, frame_max, tx));
	return eml_frame_write(fd, tx->data, tx->len, frame_max, eml_deadline_in_ms(10000));
}

/* Answer one BLOB_REQUEST from the store (or with an Error frame). */
static eml_err
answer_blob(struct eml_jobs *j, int fd, const struct eml_envelope *env, struct eml_buf *tx)
{
	eml_err rc = EML_ERR_INTERNAL, why;
	ProtobufCMessage *m = NULL;
	const Eml__V1__BlobRequest *req;
	Eml__V1__BlobResponse resp = EML__V1__BLOB_RESPONSE__INIT;
	struct eml_buf data, body;
	uint64_t total = 0;
	uint8_t *w = NULL;

	eml_buf_init(&data, j->cfg.frame_max);
	eml_buf_init(&body, j->cfg.frame_max);
	why = eml_msg_unpack(&eml__v1__blob_request__descriptor, env->body, env->body_len,
	    env->body_len, &m);
	if (why == EML_OK)
		why = eml_msg_blob_request_check((const Eml__V1__BlobRequest *)m, j->cfg.frame_max);
	if (why == EML_OK && j->store == NULL)
		why = EML_ERR_BLOB_UNKNOWN;
	if (why == EML_OK) {
		req = (const Eml__V1__BlobRequest *)m;
		why = eml_buf_extend(&data, (size_t)req->length, &w);
		if (why == EML_OK)
			why = eml_store_read_range(j->store, req->content_id.data, req->offset,
			    req->length, w, (size_t)req->length, &total);
		if (why == EML_OK) {
			resp.data.data = data.data;
			resp.data.len = data.len;
			resp.total_size = total;
			resp.offset = req->offset;
			why = eml_msg_pack(&resp.base, &body);
		}
	}
	if (why != EML_OK) {
		eml_err_clear_detail();
		eml_buf_reset(tx);
		if ((rc = eml_wire_error_frame(env->request_id, why, eml_strerror(why),
		    j->cfg.frame_max, tx)) == EML_OK)
			rc = eml_frame_write(fd, tx->data + EML_FRAME_HDR_LEN,
			    tx->len - EML_FRAME_HDR_LEN, j->cfg.frame_max, eml_deadline_in_ms(10000));
		goto out;
	}
	rc = send_env(fd, EML_MSG_BLOB_RESPONSE, env->request_id, body.data, body.len,
	    j->cfg.frame_max, tx);
out:
	eml_msg_free(m);
	eml_buf_free_nowipe(&data); /* sealed weights */
	eml_buf_free_nowipe(&body);
	return rc;
}

/*
 * One delivery of a job to one agent. EML_OK with the sealed result in
 * res; *permanent tells a job the agent refused to open (it would fail the
 * same way anywhere) from a lost agent or a timeout (worth a retry).
 */
static eml_err
run_on_agent(struct eml_jobs *j, const struct eml_job_claim *c, struct eml_buf *res,
    bool *permanent)
{
	eml_err rc = EML_ERR_INTERNAL;
	char addr[EML_UPSTREAM_ADDR_MAX];
	struct eml_addr a;
	size_t idx = 0;
	int fd = -1;
	uint8_t rid[EML_REQUEST_ID_LEN];
	Eml__V1__JobRun run = EML__V1__JOB_RUN__INIT;
	struct eml_buf tx, rx, body;
	int64_t deadline = eml_deadline_in_ms(j->cfg.run_ms);

	*permanent = false;
	eml_buf_init(&tx, j->cfg.frame_max);
	eml_buf_init(&rx, j->cfg.frame_max);
	eml_buf_init(&body, j->cfg.frame_max);
	if ((rc = eml_upstream_pool_pick(j->pool, &idx, addr, sizeof(addr))) != EML_OK)
		goto out;
	if ((rc = eml_addr_parse(addr, &a)) != EML_OK ||
	    (rc = eml_transport_connect(&a, eml_deadline_in_ms(5000), &fd)) != EML_OK)
		goto out;
	run.job_id.data = (uint8_t *)(uintptr_t)c->id;
	run.job_id.len = EML_JOB_ID_LEN;
	run.sealed_job.data = c->body.data;
	run.sealed_job.len = c->body.len;
	run.attempt = c->attempt;
	if ((rc = eml_msg_pack(&run.base, &body)) != EML_OK)
		goto out;
	randombytes_buf(rid, sizeof(rid));
	if ((rc = send_env(fd, EML_MSG_JOB_RUN, rid, body.data, body.len, j->cfg.frame_max,
	    &tx)) != EML_OK)
		goto out;
	for (;;) {
		struct eml_envelope env;

		memset(&env, 0, sizeof(env));
		if ((rc = eml_frame_read(fd, j->cfg.frame_max, deadline, &rx)) != EML_OK)
			goto out;
		if ((rc = eml_envelope_unpack(&env, rx.data, rx.len, j->cfg.frame_max)) != EML_OK)
			goto out;
		if (env.type == EML_MSG_BLOB_REQUEST) {
			rc = answer_blob(j, fd, &env, &tx);
			eml_envelope_clear(&env);
			if (rc != EML_OK)
				goto out;
			continue;
		}
		if (env.type == EML_MSG_ERROR) {
			ProtobufCMessage *m = NULL;

			rc = EML_ERR_PROTO_PEER_ERROR;
			if (eml_msg_unpack(&eml__v1__error__descriptor, env.body, env.body_len,
			    env.body_len, &m) == EML_OK) {
				uint32_t code = ((const Eml__V1__Error *)m)->code;

				if (code > 0 && code < 1000)
					rc = (eml_err)code;
				eml_msg_free(m);
			}
			eml_envelope_clear(&env);
			/* The agent could not open or decode the job: it never will. */
			*permanent = rc == EML_ERR_JOB_SEAL || eml_err_category(rc) == 400 ||
			    eml_err_category(rc) == 200;
			goto out;
		}
		if (env.type == EML_MSG_JOB_DONE) {
			ProtobufCMessage *m = NULL;
			const Eml__V1__JobDone *d;

			rc = eml_msg_unpack(&eml__v1__job_done__descriptor, env.body, env.body_len,
			    env.body_len, &m);
			d = (const Eml__V1__JobDone *)m;
			if (rc == EML_OK && (d->job_id.len != EML_JOB_ID_LEN ||
			    memcmp(d->job_id.data, c->id, EML_JOB_ID_LEN) != 0 ||
			    d->sealed_result.len == 0))
				rc = EML_ERR_PROTO_FIELD;
			if (rc == EML_OK)
				rc = eml_buf_append(res, d->sealed_result.data, d->sealed_result.len);
			eml_msg_free(m);
			eml_envelope_clear(&env);
			goto out;
		}
		eml_envelope_clear(&env);
		eml_err_set_detail("agent sent %s during a job", eml_msg_type_name(env.type));
		EML_FAIL(rc, EML_ERR_PROTO_MSG_TYPE);
	}
out:
	if (fd >= 0)
		(void)close(fd);
	eml_upstream_pool_report(j->pool, idx, eml_err_category(rc) == 100 ? rc : EML_OK,
	    eml_now_ms());
	eml_buf_free_nowipe(&tx);
	eml_buf_free_nowipe(&rx);
	eml_buf_free_nowipe(&body);
	return rc;
}

static void
nap(int ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

static void *
worker_main(void *arg)
{
	struct eml_jobs *j = arg;
	struct eml_job_claim c;
	struct eml_buf res;
	int64_t last_expire = 0;

	memset(&c, 0, sizeof(c));
	eml_buf_init(&c.body, EML_JOBQ_BODY_MAX);
	eml_buf_init(&res, j->cfg.frame_max);
	while (!atomic_load(&j->stop)) {
		bool got = false, permanent = false;
		const struct eml_cid *cid = (const struct eml_cid *)(const void *)c.id;
		int64_t t0 = eml_now_ms();
		eml_err rc;

		if (t0 - last_expire > JOBS_EXPIRE_EVERY_MS) {
			size_t n = 0;

			if (eml_jobq_expire(j->q, &n) == EML_OK && n > 0)
				EML_LOG_INFO("job.expired", NULL, EML_F_U64("jobs", n));
			last_expire = t0;
		}
		rc = eml_jobq_claim(j->q, &c, &got);
		if (rc != EML_OK) {
			EML_LOG_WARN("job.claim", NULL, EML_F_ERR(rc),
			    EML_F_STR("detail", eml_err_detail()));
			nap(500);
			continue;
		}
		if (!got) {
			nap(JOBS_IDLE_MS);
			continue;
		}
		EML_LOG_INFO("job.claimed", cid, EML_F_U64("attempt", c.attempt),
		    EML_F_U64("bytes", c.body.len));
		eml_buf_reset(&res);
		rc = run_on_agent(j, &c, &res, &permanent);
		if (rc == EML_OK) {
			rc = eml_jobq_complete(j->q, &c, res.data, res.len);
			if (rc == EML_OK)
				EML_LOG_INFO("job.completed", cid, EML_F_U64("attempt", c.attempt),
				    EML_F_U64("result_bytes", res.len),
				    EML_F_I64("ms", eml_now_ms() - t0));
			else
				EML_LOG_WARN("job.complete_refused", cid, EML_F_ERR(rc));
			continue;
		}
		EML_LOG_WARN("job.attempt_failed", cid, EML_F_U64("attempt", c.attempt),
		    EML_F_ERR(rc), EML_F_BOOL("permanent", permanent));
		if ((rc = eml_jobq_fail(j->q, &c, rc, permanent)) != EML_OK)
			EML_LOG_WARN("job.fail_refused", cid, EML_F_ERR(rc));
	}
	eml_buf_free_nowipe(&c.body);
	eml_buf_free_nowipe(&res);
	return NULL;
}

/* ---------------------------------------------------------------- life */

eml_err
eml_jobs_open(const struct eml_jobs_config *c, struct eml_jobs **out)
{
	eml_err rc = EML_ERR_INTERNAL;
	struct eml_jobs *j = NULL;
	struct eml_addr a;

	EML_ENSURE(c != NULL && out != NULL && c->listen != NULL, EML_ERR_NULL);
	*out = NULL;
	/* 0 workers: an API-only proxy that queues what others run. */
	if (c->workers > JOBS_WORKERS_MAX || c->run_ms < 1) {
		eml_err_set_detail("job workers 0..%u", JOBS_WORKERS_MAX);
		EML_BAIL(EML_ERR_CONFIG);
	}
	if ((rc = eml_addr_parse(c->listen, &a)) != EML_OK)
		return rc;
	if (a.kind != EML_ADDR_TCP) {
		eml_err_set_detail("--jobs-listen wants tcp:HOST:PORT");
		EML_BAIL(EML_ERR_CONFIG);
	}
	j = eml_calloc(1, sizeof(*j));
	if (j == NULL)
		EML_BAIL(EML_ERR_NOMEM);
	j->cfg = *c;
	j->lfd = -1;
	if ((rc = eml_jobq_open(&c->queue, &j->q)) != EML_OK)
		goto out;
	if ((rc = eml_transport_listen(&a, &j->lfd)) != EML_OK)
		goto out;
	*out = j;
	j = NULL;
	rc = EML_OK;
out:
	eml_jobs_stop(j);
	return rc;
}

eml_err
eml_jobs_run(struct eml_jobs *j, struct eml_upstream_pool *pool, const struct eml_store *store)
{
	EML_ENSURE(j != NULL && pool != NULL, EML_ERR_NULL);
	j->pool = pool;
	j->store = store;
	j->mhd = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION |
	    MHD_USE_POLL, 0, NULL, NULL, on_request, j, MHD_OPTION_LISTEN_SOCKET, j->lfd,
	    MHD_OPTION_NOTIFY_COMPLETED, on_completed, j, MHD_OPTION_CONNECTION_TIMEOUT,
	    (unsigned)30, MHD_OPTION_CONNECTION_LIMIT, (unsigned)256, MHD_OPTION_END);
	if (j->mhd == NULL) {
		eml_err_set_detail("cannot start the jobs HTTP server on %s", j->cfg.listen);
		EML_BAIL(EML_ERR_LISTEN);
	}
	for (j->nth = 0; j->nth < j->cfg.workers; j->nth++) {
		if (pthread_create(&j->th[j->nth], NULL, worker_main, j) != 0) {
			eml_err_set_detail("cannot start job workers");
			EML_BAIL(EML_ERR_INTERNAL);
		}
	}
	EML_LOG_INFO("jobs.listen", NULL, EML_F_STR("addr", j->cfg.listen),
	    EML_F_STR("queue", eml_jobq_backend(j->q)), EML_F_U64("workers", j->cfg.workers),
	    EML_F_I64("run_ms", j->cfg.run_ms),
	    EML_F_I64("visibility_ms", j->cfg.queue.visibility_ms),
	    EML_F_U64("max_retries", j->cfg.queue.max_retries));
	return EML_OK;
}

void
eml_jobs_stop(struct eml_jobs *j)
{
	if (j == NULL)
		return;
	atomic_store(&j->stop, 1);
	for (unsigned i = 0; i < j->nth; i++)
		(void)pthread_join(j->th[i], NULL);
	if (j->mhd != NULL)
		MHD_stop_daemon(j->mhd);
	else if (j->lfd >= 0)
		(void)close(j->lfd);
	eml_jobq_close(j->q);
	eml_free(j);
}
