/*
 * Asynchronous jobs in the proxy (issue 17, docs/PROXY.md "Jobs"): the
 * HTTP API on its own listener (libmicrohttpd), and the workers that hand
 * queued jobs to agents.
 *
 *   POST /v1/jobs          body: a sealed job (docs/PROTOCOL.md section 6);
 *                          the job id is the one in its header.
 *                          202 {"job_id","status":"queued"} once durable;
 *                          200 with the current status for the same bytes
 *                          again; 409 for other bytes under the same id.
 *   GET  /v1/jobs/<id>     {"job_id","status","attempts"} and, when done,
 *                          "result": the result sealed to the reply key
 *                          (base64); when failed, "code". 404 unknown.
 *
 * A worker claims a job, opens a connection to an agent, sends JOB_RUN,
 * serves the agent's BLOB_REQUESTs from the store, and stores the sealed
 * result of JOB_DONE under its lease. An agent lost mid-job, or one that
 * does not answer within the expected run time, puts the job back for a
 * retry (with backoff); a job the agent cannot open fails for good.
 */
#ifndef EML_JOBS_H
#define EML_JOBS_H

#include "eml_upstream.h"
#include "eml_jobq.h"
#include "eml_store.h"

struct eml_jobs_config {
	const char *listen;      /* tcp:HOST:PORT of the HTTP API */
	struct eml_jobq_config queue;
	unsigned workers;        /* concurrent jobs on agents from this proxy; 0: API only */
	int64_t run_ms;          /* expected run time of one job */
	size_t frame_max;
};

void eml_jobs_config_defaults(struct eml_jobs_config *c);

struct eml_jobs;

/* Open the queue and bind the API's socket (before the privilege drop). */
eml_err eml_jobs_open(const struct eml_jobs_config *c, struct eml_jobs **out) EML_MUST_USE;
/* Start the HTTP server and the workers (after the seccomp filter, so
 * their threads inherit it). */
eml_err eml_jobs_run(struct eml_jobs *j, struct eml_upstream_pool *pool,
    const struct eml_store *store) EML_MUST_USE;
void eml_jobs_stop(struct eml_jobs *j);

#endif
