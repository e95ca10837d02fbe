/*
 * The proxy's job queue (issue 17, docs/PROXY.md "Jobs"): one small
 * interface, two real backends. The proxy never holds a job only in
 * memory: put returns once the sealed job is durable (SQLite: WAL commit
 * with synchronous=FULL; Redis: the server's append-only file with
 * appendfsync always), so an acknowledged job survives a SIGKILL.
 *
 *   sqlite:PATH (or a bare PATH)   one host, the default
 *   redis://HOST:PORT              several proxies share one queue (Redis
 *                                  Streams, one consumer group)
 *
 * Semantics, the same on both:
 *   - dedup by job id: the same id with the same bytes is the same job
 *     (put says it existed); other bytes under that id is
 *     EML_ERR_JOB_CONFLICT;
 *   - claim hands a job to one worker under a lease that expires after
 *     visibility_ms; a job whose lease expired (its proxy or agent died) is
 *     handed out again;
 *   - fail puts a job back after backoff_ms * 2^(attempt-1), or marks it
 *     failed once it has been tried 1 + max_retries times (or at once for
 *     a permanent failure);
 *   - complete stores the sealed result only under the live lease: a
 *     worker whose lease was taken over cannot complete the job a second
 *     time (EML_ERR_JOB_CONFLICT);
 *   - results (and failures) expire result_ttl_ms after they were stored.
 * The queue sees sealed bytes and sizes only.
 */
#ifndef EML_JOBQ_H
#define EML_JOBQ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "eml_buf.h"
#include "eml_err.h"

#define EML_JOBQ_ID_LEN 16u
#define EML_JOBQ_BODY_MAX ((size_t)64 << 20)

enum eml_job_state {
	EML_JOB_QUEUED = 1,
	EML_JOB_RUNNING = 2,
	EML_JOB_DONE = 3,
	EML_JOB_FAILED = 4,
};

struct eml_jobq_config {
	const char *url;
	const char *consumer;  /* this proxy's name in the consumer group */
	int64_t visibility_ms; /* lease of a claim */
	unsigned max_retries;  /* deliveries after the first */
	int64_t backoff_ms;    /* delay before the first retry; doubles */
	int64_t result_ttl_ms;
};

void eml_jobq_config_defaults(struct eml_jobq_config *c);

struct eml_job_info {
	enum eml_job_state state;
	unsigned attempts;
	uint32_t code;        /* the failure's code, FAILED only */
	struct eml_buf result; /* the sealed result, DONE only (caller inits) */
};

struct eml_job_claim {
	uint8_t id[EML_JOBQ_ID_LEN];
	unsigned attempt;      /* 1 on the first delivery */
	uint64_t lease;        /* presented to complete and fail */
	char entry[48];        /* backend's handle (Redis stream entry id) */
	struct eml_buf body;   /* the sealed job (caller inits) */
};

struct eml_jobq;

eml_err eml_jobq_open(const struct eml_jobq_config *c, struct eml_jobq **out) EML_MUST_USE;
void eml_jobq_close(struct eml_jobq *q);
/* "sqlite" or "redis". */
const char *eml_jobq_backend(const struct eml_jobq *q);

eml_err eml_jobq_put(struct eml_jobq *q, const uint8_t id[EML_JOBQ_ID_LEN], const uint8_t *body,
    size_t n, bool *created) EML_MUST_USE;
/* EML_ERR_JOB_NOT_FOUND for an unknown or expired id. */
eml_err eml_jobq_get(struct eml_jobq *q, const uint8_t id[EML_JOBQ_ID_LEN],
    struct eml_job_info *out) EML_MUST_USE;
/* *got false when nothing is ready. */
eml_err eml_jobq_claim(struct eml_jobq *q, struct eml_job_claim *out, bool *got) EML_MUST_USE;
eml_err eml_jobq_complete(struct eml_jobq *q, const struct eml_job_claim *c,
    const uint8_t *result, size_t n) EML_MUST_USE;
eml_err eml_jobq_fail(struct eml_jobq *q, const struct eml_job_claim *c, eml_err code,
    bool permanent) EML_MUST_USE;
/* Drop results and failures past their expiry. */
eml_err eml_jobq_expire(struct eml_jobq *q, size_t *removed) EML_MUST_USE;

/* Backend entry points (eml_jobq_sqlite.c, eml_jobq_redis.c). */
struct eml_jobq_ops {
	const char *name;
	eml_err (*put)(struct eml_jobq *q, const uint8_t *id, const uint8_t *body, size_t n,
	    const uint8_t digest[32], bool *created);
	eml_err (*get)(struct eml_jobq *q, const uint8_t *id, struct eml_job_info *out);
	eml_err (*claim)(struct eml_jobq *q, struct eml_job_claim *out, bool *got);
	eml_err (*complete)(struct eml_jobq *q, const struct eml_job_claim *c,
	    const uint8_t *result, size_t n);
	eml_err (*fail)(struct eml_jobq *q, const struct eml_job_claim *c, eml_err code,
	    bool permanent);
	eml_err (*expire)(struct eml_jobq *q, size_t *removed);
	void (*close)(struct eml_jobq *q);
};

struct eml_jobq {
	const struct eml_jobq_ops *ops;
	struct eml_jobq_config cfg;
	void *impl;
};

eml_err eml_jobq_sqlite_open(struct eml_jobq *q, const char *path) EML_MUST_USE;
eml_err eml_jobq_redis_open(struct eml_jobq *q, const char *host, int port) EML_MUST_USE;

/* The delay before retry number attempt (attempt >= 1 deliveries so far). */
int64_t eml_jobq_backoff(const struct eml_jobq_config *c, unsigned attempt);

#endif
