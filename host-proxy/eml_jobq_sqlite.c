/*
 * Job queue on SQLite (Debian's libsqlite3): one file, WAL mode,
 * synchronous=FULL so a commit is on disk before put returns. One
 * connection per queue, calls serialised by a mutex; BEGIN IMMEDIATE
 * around every read-modify-write, with a busy timeout so several proxies
 * on one host may share the file.
 */
#include <pthread.h>
#include <string.h>
#include <time.h>

#include <sodium.h>
#include <sqlite3.h>

#include "eml_io.h"
#include "eml_jobq.h"
#include "eml_mem.h"

struct sq {
	sqlite3 *db;
	pthread_mutex_t mu;
};

static const char schema[] =
    "CREATE TABLE IF NOT EXISTS jobs("
    " id BLOB PRIMARY KEY,"
    " digest BLOB NOT NULL,"
    " body BLOB,"
    " state INTEGER NOT NULL,"
    " attempts INTEGER NOT NULL DEFAULT 0,"
    " visible_at INTEGER NOT NULL,"
    " lease INTEGER NOT NULL DEFAULT 0,"
    " code INTEGER NOT NULL DEFAULT 0,"
    " result BLOB,"
    " expires_at INTEGER NOT NULL DEFAULT 0,"
    " created INTEGER NOT NULL);"
    "CREATE INDEX IF NOT EXISTS jobs_ready ON jobs(state, visible_at);";

static eml_err
sq_fail(struct sq *s, const char *what)
{
	eml_err_set_detail("sqlite %s: %s", what, sqlite3_errmsg(s->db));
	return EML_ERR_JOB_QUEUE;
}

static eml_err
sq_exec(struct sq *s, const char *sql)
{
	if (sqlite3_exec(s->db, sql, NULL, NULL, NULL) != SQLITE_OK)
		return sq_fail(s, sql);
	return EML_OK;
}

static eml_err
sq_prep(struct sq *s, const char *sql, sqlite3_stmt **st)
{
	if (sqlite3_prepare_v2(s->db, sql, -1, st, NULL) != SQLITE_OK)
		return sq_fail(s, "prepare");
	return EML_OK;
}

/* The monotonic clock is per boot; the queue outlives processes on one
 * host, so it uses wall time. */
static int64_t
wall_ms(void)
{
	struct timespec ts;

	(void)clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static eml_err
sq_put(struct eml_jobq *q, const uint8_t *id, const uint8_t *body, size_t n,
    const uint8_t digest[32], bool *created)
{
	struct sq *s = q->impl;
	sqlite3_stmt *st = NULL;
	eml_err rc = EML_ERR_INTERNAL;
	int step;

	pthread_mutex_lock(&s->mu);
	if ((rc = sq_exec(s, "BEGIN IMMEDIATE")) != EML_OK)
		goto unlock;
	if ((rc = sq_prep(s, "SELECT digest FROM jobs WHERE id = ?1", &st)) != EML_OK)
		goto out;
	(void)sqlite3_bind_blob(st, 1, id, EML_JOBQ_ID_LEN, SQLITE_STATIC);
	step = sqlite3_step(st);
	if (step == SQLITE_ROW) {
		const void *d = sqlite3_column_blob(st, 0);

		if (sqlite3_column_bytes(st, 0) != 32 || d == NULL || sodium_memcmp(d, digest, 32) != 0) {
			eml_err_set_detail("job id reused for other bytes");
			EML_FAIL(rc, EML_ERR_JOB_CONFLICT);
		}
		*created = false;
		rc = EML_OK;
		goto out;
	}
	if (step != SQLITE_DONE)
		EML_FAIL(rc, sq_fail(s, "select"));
	sqlite3_finalize(st);
	st = NULL;
	if ((rc = sq_prep(s, "INSERT INTO jobs(id, digest, body, state, visible_at, created) "
	    "VALUES(?1, ?2, ?3, 1, ?4, ?4)", &st)) != EML_OK)
		goto out;
	(void)sqlite3_bind_blob(st, 1, id, EML_JOBQ_ID_LEN, SQLITE_STATIC);
	(void)sqlite3_bind_blob(st, 2, digest, 32, SQLITE_STATIC);
	(void)sqlite3_bind_blob64(st, 3, body, n, SQLITE_STATIC);
	(void)sqlite3_bind_int64(st, 4, wall_ms());
	if (sqlite3_step(st) != SQLITE_DONE)
		EML_FAIL(rc, sq_fail(s, "insert"));
	*created = true;
	rc = EML_OK;
out:
	sqlite3_finalize(st);
	/* COMMIT returns once the WAL is synced (synchronous=FULL). */
	if (rc == EML_OK)
		rc = sq_exec(s, "COMMIT");
	if (rc != EML_OK)
		(void)sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
unlock:
	pthread_mutex_unlock(&s->mu);
	return rc;
}

static eml_err
sq_get(struct eml_jobq *q, const uint8_t *id, struct eml_job_info *out)
{
	struct sq *s = q->impl;
	sqlite3_stmt *st = NULL;
	eml_err rc = EML_ERR_INTERNAL;
	int step;

	pthread_mutex_lock(&s->mu);
	if ((rc = sq_prep(s, "SELECT state, attempts, code, result, expires_at FROM jobs "
	    "WHERE id = ?1", &st)) != EML_OK)
		goto out;
	(void)sqlite3_bind_blob(st, 1, id, EML_JOBQ_ID_LEN, SQLITE_STATIC);
	step = sqlite3_step(st);
	if (step == SQLITE_DONE || (step == SQLITE_ROW && sqlite3_column_int(st, 0) >= EML_JOB_DONE &&
	    sqlite3_column_int64(st, 4) <= wall_ms()))
		EML_FAIL(rc, EML_ERR_JOB_NOT_FOUND);
	if (step != SQLITE_ROW)
		EML_FAIL(rc, sq_fail(s, "select"));
	out->state = (enum eml_job_state)sqlite3_column_int(st, 0);
	out->attempts = (unsigned)sqlite3_column_int(st, 1);
	out->code = (uint32_t)sqlite3_column_int(st, 2);
	if (out->state == EML_JOB_DONE) {
		const void *r = sqlite3_column_blob(st, 3);
		int rn = sqlite3_column_bytes(st, 3);

		if (r == NULL || rn <= 0)
			EML_FAIL(rc, EML_ERR_JOB_QUEUE);
		if ((rc = eml_buf_append(&out->result, r, (size_t)rn)) != EML_OK)
			goto out;
	}
	rc = EML_OK;
out:
	sqlite3_finalize(st);
	pthread_mutex_unlock(&s->mu);
	return rc;
}

static eml_err
sq_claim(struct eml_jobq *q, struct eml_job_claim *out, bool *got)
{
	struct sq *s = q->impl;
	sqlite3_stmt *st = NULL;
	eml_err rc = EML_ERR_INTERNAL;
	int64_t now = wall_ms();
	unsigned max = 1 + q->cfg.max_retries;

	pthread_mutex_lock(&s->mu);
	if ((rc = sq_exec(s, "BEGIN IMMEDIATE")) != EML_OK)
		goto unlock;
	/* A job whose lease ran out on its last allowed delivery fails. */
	if ((rc = sq_prep(s, "UPDATE jobs SET state = 4, code = ?1, body = NULL, lease = 0, "
	    "expires_at = ?2 + ?3 WHERE state = 2 AND visible_at <= ?2 AND attempts >= ?4",
	    &st)) != EML_OK)
		goto out;
	(void)sqlite3_bind_int(st, 1, (int)EML_ERR_JOB_FAILED);
	(void)sqlite3_bind_int64(st, 2, now);
	(void)sqlite3_bind_int64(st, 3, q->cfg.result_ttl_ms);
	(void)sqlite3_bind_int(st, 4, (int)max);
	if (sqlite3_step(st) != SQLITE_DONE)
		EML_FAIL(rc, sq_fail(s, "fail expired"));
	sqlite3_finalize(st);
	st = NULL;
	if ((rc = sq_prep(s, "SELECT id, body, attempts FROM jobs WHERE state IN (1, 2) AND "
	    "visible_at <= ?1 ORDER BY visible_at LIMIT 1", &st)) != EML_OK)
		goto out;
	(void)sqlite3_bind_int64(st, 1, now);
	switch (sqlite3_step(st)) {
	case SQLITE_DONE:
		rc = EML_OK;
		goto out;
	case SQLITE_ROW:
		break;
	default:
		EML_FAIL(rc, sq_fail(s, "select"));
	}
	if (sqlite3_column_bytes(st, 0) != EML_JOBQ_ID_LEN || sqlite3_column_bytes(st, 1) <= 0)
		EML_FAIL(rc, EML_ERR_JOB_QUEUE);
	EML_MEMCPY(out->id, sqlite3_column_blob(st, 0), EML_JOBQ_ID_LEN);
	if ((rc = eml_buf_append(&out->body, sqlite3_column_blob(st, 1),
	    (size_t)sqlite3_column_bytes(st, 1))) != EML_OK)
		goto out;
	out->attempt = (unsigned)sqlite3_column_int(st, 2) + 1;
	sqlite3_finalize(st);
	st = NULL;
	randombytes_buf(&out->lease, sizeof(out->lease));
	out->lease &= INT64_MAX; /* SQLite integers are signed */
	if (out->lease == 0)
		out->lease = 1;
	if ((rc = sq_prep(s, "UPDATE jobs SET state = 2, attempts = ?2, visible_at = ?3, lease = ?4 "
	    "WHERE id = ?1", &st)) != EML_OK)
		goto out;
	(void)sqlite3_bind_blob(st, 1, out->id, EML_JOBQ_ID_LEN, SQLITE_STATIC);
	(void)sqlite3_bind_int(st, 2, (int)out->attempt);
	(void)sqlite3_bind_int64(st, 3, now + q->cfg.visibility_ms);
	(void)sqlite3_bind_int64(st, 4, (int64_t)out->lease);
	if (sqlite3_step(st) != SQLITE_DONE)
		EML_FAIL(rc, sq_fail(s, "claim"));
	*got = true;
	rc = EML_OK;
out:
	sqlite3_finalize(st);
	if (rc == EML_OK)
		rc = sq_exec(s, "COMMIT");
	if (rc != EML_OK) {
		(void)sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
		*got = false;
	}
unlock:
	pthread_mutex_unlock(&s->mu);
	return rc;
}

/* One UPDATE under the live lease; no row changed means the lease is
 * gone (taken over after a timeout, or the job already finished). */
static eml_err
sq_finish(struct sq *s, const char *sql, const struct eml_job_claim *c, int64_t a3, int64_t a4,
    const uint8_t *blob, size_t n)
{
	sqlite3_stmt *st = NULL;
	eml_err rc = EML_ERR_INTERNAL;

	pthread_mutex_lock(&s->mu);
	if ((rc = sq_prep(s, sql, &st)) != EML_OK)
		goto out;
	(void)sqlite3_bind_blob(st, 1, c->id, EML_JOBQ_ID_LEN, SQLITE_STATIC);
	(void)sqlite3_bind_int64(st, 2, (int64_t)c->lease);
	(void)sqlite3_bind_int64(st, 3, a3);
	(void)sqlite3_bind_int64(st, 4, a4);
	if (blob != NULL)
		(void)sqlite3_bind_blob64(st, 5, blob, n, SQLITE_STATIC);
	if (sqlite3_step(st) != SQLITE_DONE)
		EML_FAIL(rc, sq_fail(s, "update"));
	if (sqlite3_changes(s->db) != 1) {
		eml_err_set_detail("lease lost: the job was handed to another worker");
		EML_FAIL(rc, EML_ERR_JOB_CONFLICT);
	}
	rc = EML_OK;
out:
	sqlite3_finalize(st);
	pthread_mutex_unlock(&s->mu);
	return rc;
}

static eml_err
sq_complete(struct eml_jobq *q, const struct eml_job_claim *c, const uint8_t *result, size_t n)
{
	return sq_finish(q->impl, "UPDATE jobs SET state = 3, result = ?5, body = NULL, lease = 0, "
	    "expires_at = ?3 + ?4 WHERE id = ?1 AND lease = ?2 AND state = 2", c, wall_ms(),
	    q->cfg.result_ttl_ms, result, n);
}

static eml_err
sq_fail_job(struct eml_jobq *q, const struct eml_job_claim *c, eml_err code, bool permanent)
{
	if (permanent || c->attempt >= 1 + q->cfg.max_retries)
		return sq_finish(q->impl, "UPDATE jobs SET state = 4, code = ?4, body = NULL, "
		    "lease = 0, expires_at = ?3 WHERE id = ?1 AND lease = ?2 AND state = 2", c,
		    wall_ms() + q->cfg.result_ttl_ms, (int64_t)code, NULL, 0);
	return sq_finish(q->impl, "UPDATE jobs SET state = 1, lease = 0, visible_at = ?3 + ?4 "
	    "WHERE id = ?1 AND lease = ?2 AND state = 2", c, wall_ms(),
	    eml_jobq_backoff(&q->cfg, c->attempt), NULL, 0);
}

static eml_err
sq_expire(struct eml_jobq *q, size_t *removed)
{
	struct sq *s = q->impl;
	sqlite3_stmt *st = NULL;
	eml_err rc = EML_ERR_INTERNAL;

	pthread_mutex_lock(&s->mu);
	if ((rc = sq_prep(s, "DELETE FROM jobs WHERE state >= 3 AND expires_at <= ?1", &st)) !=
	    EML_OK)
		goto out;
	(void)sqlite3_bind_int64(st, 1, wall_ms());
	if (sqlite3_step(st) != SQLITE_DONE)
		EML_FAIL(rc, sq_fail(s, "expire"));
	*removed = (size_t)sqlite3_changes(s->db);
	rc = EML_OK;
out:
	sqlite3_finalize(st);
	pthread_mutex_unlock(&s->mu);
	return rc;
}

static void
sq_close(struct eml_jobq *q)
{
	struct sq *s = q->impl;

	if (s == NULL)
		return;
	(void)sqlite3_close(s->db);
	pthread_mutex_destroy(&s->mu);
	eml_free(s);
	q->impl = NULL;
}

static const struct eml_jobq_ops sqlite_ops = {
	"sqlite", sq_put, sq_get, sq_claim, sq_complete, sq_fail_job, sq_expire, sq_close,
};

eml_err
eml_jobq_sqlite_open(struct eml_jobq *q, const char *path)
{
	eml_err rc = EML_ERR_INTERNAL;
	struct sq *s = eml_calloc(1, sizeof(*s));

	if (s == NULL)
		EML_BAIL(EML_ERR_NOMEM);
	if (pthread_mutex_init(&s->mu, NULL) != 0) {
		eml_free(s);
		EML_BAIL(EML_ERR_INTERNAL);
	}
	q->impl = s;
	q->ops = &sqlite_ops;
	if (sqlite3_open_v2(path, &s->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE |
	    SQLITE_OPEN_FULLMUTEX, NULL) != SQLITE_OK) {
		eml_err_set_detail("sqlite open %s: %s", path,
		    s->db != NULL ? sqlite3_errmsg(s->db) : "out of memory");
		EML_FAIL(rc, EML_ERR_JOB_QUEUE);
	}
	(void)sqlite3_busy_timeout(s->db, 5000);
	/* Keep the -wal file at close: deleting it would need unlink, which
	 * the proxy's seccomp filter does not allow. */
	{
		int persist = 1;

		(void)sqlite3_file_control(s->db, "main", SQLITE_FCNTL_PERSIST_WAL, &persist);
	}
	/* WAL, and every commit synced: an acknowledged job is on disk. */
	if ((rc = sq_exec(s, "PRAGMA journal_mode=WAL")) != EML_OK ||
	    (rc = sq_exec(s, "PRAGMA synchronous=FULL")) != EML_OK ||
	    (rc = sq_exec(s, schema)) != EML_OK)
		goto out;
	rc = EML_OK;
out:
	if (rc != EML_OK) {
		sq_close(q);
		q->ops = NULL;
	}
	return rc;
}
