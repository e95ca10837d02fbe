/*
 * Job queue on Redis Streams (hiredis), for several proxies sharing one
 * queue. Each job is a hash eml:job:<id> (digest, sealed body, state,
 * attempts, lease, result); its delivery is an entry of the stream
 * eml:jobs read through one consumer group, so an entry is handed to one
 * proxy at a time, stays in that proxy's pending list while it runs, and
 * is taken over by another (XAUTOCLAIM) once it has been idle for the
 * visibility timeout. Every read-modify-write is one Lua script, atomic on
 * the server. Retries are delayed by resetting the entry's idle time
 * (XCLAIM IDLE) so it becomes claimable after the backoff; results expire
 * with the hash (PEXPIRE).
 *
 * Durability is the server's: run it with appendonly yes and appendfsync
 * always, so a reply means the write is on disk (the proxy logs a warning
 * when the server says otherwise).
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#include <hiredis/hiredis.h>
#include <sodium.h>

#include "eml_buf.h"
#include "eml_jobq.h"
#include "eml_log.h"
#include "eml_mem.h"
#include "eml_num.h"

#define STREAM "eml:jobs"
#define GROUP "eml-proxies"

struct rq {
	redisContext *c;
	pthread_mutex_t mu;
};

static const char lua_put[] =
    "local d = redis.call('HGET', KEYS[1], 'digest')\n"
    "if d then if d == ARGV[1] then return 0 else return -1 end end\n"
    "redis.call('HSET', KEYS[1], 'digest', ARGV[1], 'body', ARGV[2], 'state', 1,"
    " 'attempts', 0, 'lease', '0', 'code', 0)\n"
    "redis.call('XADD', KEYS[2], '*', 'id', ARGV[3])\n"
    "return 1\n";

/* ARGV: group, entry, lease, max deliveries, failure code, ttl ms. */
static const char lua_claim[] =
    "local st = tonumber(redis.call('HGET', KEYS[1], 'state') or '0')\n"
    "if st == 0 or st >= 3 then\n"
    "  redis.call('XACK', KEYS[2], ARGV[1], ARGV[2]); redis.call('XDEL', KEYS[2], ARGV[2])\n"
    "  return {0}\n"
    "end\n"
    "local a = tonumber(redis.call('HGET', KEYS[1], 'attempts'))\n"
    "if a >= tonumber(ARGV[4]) then\n"
    "  redis.call('HSET', KEYS[1], 'state', 4, 'code', ARGV[5], 'lease', '0')\n"
    "  redis.call('HDEL', KEYS[1], 'body'); redis.call('PEXPIRE', KEYS[1], ARGV[6])\n"
    "  redis.call('XACK', KEYS[2], ARGV[1], ARGV[2]); redis.call('XDEL', KEYS[2], ARGV[2])\n"
    "  return {0}\n"
    "end\n"
    "a = a + 1\n"
    "redis.call('HSET', KEYS[1], 'state', 2, 'attempts', a, 'lease', ARGV[3], 'entry', ARGV[2])\n"
    "return {a, redis.call('HGET', KEYS[1], 'body')}\n";

/* ARGV: lease, group, ttl ms, final state (3 done, 4 failed), result or
 * code. */
static const char lua_finish[] =
    "if redis.call('HGET', KEYS[1], 'lease') ~= ARGV[1] or"
    " redis.call('HGET', KEYS[1], 'state') ~= '2' then return 0 end\n"
    "local e = redis.call('HGET', KEYS[1], 'entry')\n"
    "if ARGV[4] == '3' then\n"
    "  redis.call('HSET', KEYS[1], 'state', 3, 'result', ARGV[5], 'lease', '0')\n"
    "else\n"
    "  redis.call('HSET', KEYS[1], 'state', 4, 'code', ARGV[5], 'lease', '0')\n"
    "end\n"
    "redis.call('HDEL', KEYS[1], 'body'); redis.call('PEXPIRE', KEYS[1], ARGV[3])\n"
    "redis.call('XACK', KEYS[2], ARGV[2], e); redis.call('XDEL', KEYS[2], e)\n"
    "return 1\n";

/* ARGV: lease, group, consumer, idle ms. Back in the queue; the entry
 * stays pending and becomes claimable when it has been idle for the
 * visibility timeout, that is after the backoff. */
static const char lua_retry[] =
    "if redis.call('HGET', KEYS[1], 'lease') ~= ARGV[1] or"
    " redis.call('HGET', KEYS[1], 'state') ~= '2' then return 0 end\n"
    "local e = redis.call('HGET', KEYS[1], 'entry')\n"
    "redis.call('HSET', KEYS[1], 'state', 1, 'lease', '0')\n"
    "redis.call('XCLAIM', KEYS[2], ARGV[2], ARGV[3], 0, e, 'IDLE', ARGV[4])\n"
    "return 1\n";

static void
hash_key(const uint8_t *id, char out[64])
{
	char hex[2 * EML_JOBQ_ID_LEN + 1];

	eml_hex_encode(hex, id, EML_JOBQ_ID_LEN);
	(void)snprintf(out, 64, "eml:job:%s", hex);
}

static eml_err
r_fail(struct rq *r, redisReply *rep, const char *what)
{
	if (rep != NULL && rep->type == REDIS_REPLY_ERROR)
		eml_err_set_detail("redis %s: %.*s", what, (int)rep->len, rep->str);
	else if (r->c->err != 0)
		eml_err_set_detail("redis %s: %s", what, r->c->errstr);
	else
		eml_err_set_detail("redis %s: unexpected reply", what);
	if (rep != NULL)
		freeReplyObject(rep);
	return EML_ERR_JOB_QUEUE;
}

static eml_err
rq_put(struct eml_jobq *q, const uint8_t *id, const uint8_t *body, size_t n,
    const uint8_t digest[32], bool *created)
{
	struct rq *r = q->impl;
	redisReply *rep;
	char key[64], hex[2 * EML_JOBQ_ID_LEN + 1];
	eml_err rc = EML_OK;

	hash_key(id, key);
	eml_hex_encode(hex, id, EML_JOBQ_ID_LEN);
	pthread_mutex_lock(&r->mu);
	rep = redisCommand(r->c, "EVAL %s 2 %s %s %b %b %s", lua_put, key, STREAM, digest,
	    (size_t)32, body, n, hex);
	if (rep == NULL || rep->type != REDIS_REPLY_INTEGER) {
		rc = r_fail(r, rep, "put");
		goto out;
	}
	if (rep->integer < 0) {
		eml_err_set_detail("job id reused for other bytes");
		rc = EML_ERR_JOB_CONFLICT;
	}
	*created = rep->integer == 1;
	freeReplyObject(rep);
out:
	pthread_mutex_unlock(&r->mu);
	return rc;
}

static eml_err
rq_get(struct eml_jobq *q, const uint8_t *id, struct eml_job_info *out)
{
	struct rq *r = q->impl;
	redisReply *rep;
	char key[64];
	eml_err rc = EML_OK;

	hash_key(id, key);
	pthread_mutex_lock(&r->mu);
	rep = redisCommand(r->c, "HMGET %s state attempts code result", key);
	if (rep == NULL || rep->type != REDIS_REPLY_ARRAY || rep->elements != 4) {
		rc = r_fail(r, rep, "get");
		goto out;
	}
	if (rep->element[0]->type != REDIS_REPLY_STRING) {
		freeReplyObject(rep);
		rc = EML_ERR_JOB_NOT_FOUND;
		goto out;
	}
	{
		uint64_t st = 0, at = 0, co = 0;

		if (eml_num_u64(rep->element[0]->str, 1, 4, &st) != EML_OK ||
		    (rep->element[1]->type == REDIS_REPLY_STRING &&
		    eml_num_u64(rep->element[1]->str, 0, 1000, &at) != EML_OK) ||
		    (rep->element[2]->type == REDIS_REPLY_STRING &&
		    eml_num_u64(rep->element[2]->str, 0, 999, &co) != EML_OK)) {
			freeReplyObject(rep);
			eml_err_set_detail("redis job hash malformed");
			rc = EML_ERR_JOB_QUEUE;
			goto out;
		}
		out->state = (enum eml_job_state)st;
		out->attempts = (unsigned)at;
		out->code = (uint32_t)co;
	}
	if (out->state == EML_JOB_DONE) {
		if (rep->element[3]->type != REDIS_REPLY_STRING || rep->element[3]->len == 0)
			rc = EML_ERR_JOB_QUEUE;
		else
			rc = eml_buf_append(&out->result, rep->element[3]->str,
			    rep->element[3]->len);
	}
	freeReplyObject(rep);
out:
	pthread_mutex_unlock(&r->mu);
	return rc;
}

/* The first entry of an XAUTOCLAIM or XREADGROUP reply: its id and the
 * job id field. */
static bool
entry_of(const redisReply *entries, char *entry, size_t en, uint8_t id[EML_JOBQ_ID_LEN])
{
	const redisReply *e, *f;

	if (entries == NULL || entries->type != REDIS_REPLY_ARRAY || entries->elements == 0)
		return false;
	e = entries->element[0];
	if (e->type != REDIS_REPLY_ARRAY || e->elements != 2 ||
	    e->element[0]->type != REDIS_REPLY_STRING)
		return false;
	(void)snprintf(entry, en, "%.*s", (int)e->element[0]->len, e->element[0]->str);
	f = e->element[1];
	if (f->type != REDIS_REPLY_ARRAY || f->elements != 2 ||
	    f->element[1]->type != REDIS_REPLY_STRING || f->element[1]->len != 2 * EML_JOBQ_ID_LEN)
		return false;
	return eml_hex_decode(id, EML_JOBQ_ID_LEN, f->element[1]->str) == EML_OK;
}

static eml_err
rq_claim(struct eml_jobq *q, struct eml_job_claim *out, bool *got)
{
	struct rq *r = q->impl;
	redisReply *rep = NULL, *cl = NULL;
	char key[64], vis[32], lease[32], max[16], code[16], ttl[32];
	eml_err rc = EML_OK;
	bool have = false;

	(void)snprintf(vis, sizeof(vis), "%lld", (long long)q->cfg.visibility_ms);
	(void)snprintf(max, sizeof(max), "%u", 1 + q->cfg.max_retries);
	(void)snprintf(code, sizeof(code), "%d", (int)EML_ERR_JOB_FAILED);
	(void)snprintf(ttl, sizeof(ttl), "%lld", (long long)q->cfg.result_ttl_ms);
	pthread_mutex_lock(&r->mu);
	for (int round = 0; round < 8 && !*got; round++) {
		/* A delivery whose lease ran out, then a new one. */
		rep = redisCommand(r->c, "XAUTOCLAIM %s %s %s %s 0-0 COUNT 1", STREAM, GROUP,
		    q->cfg.consumer, vis);
		if (rep == NULL || rep->type != REDIS_REPLY_ARRAY || rep->elements < 2) {
			rc = r_fail(r, rep, "xautoclaim");
			goto out;
		}
		have = entry_of(rep->element[1], out->entry, sizeof(out->entry), out->id);
		freeReplyObject(rep);
		rep = NULL;
		if (!have) {
			rep = redisCommand(r->c, "XREADGROUP GROUP %s %s COUNT 1 STREAMS %s >", GROUP,
			    q->cfg.consumer, STREAM);
			if (rep == NULL) {
				rc = r_fail(r, rep, "xreadgroup");
				goto out;
			}
			if (rep->type == REDIS_REPLY_NIL) {
				freeReplyObject(rep);
				rep = NULL;
				goto out; /* nothing ready */
			}
			if (rep->type != REDIS_REPLY_ARRAY || rep->elements != 1 ||
			    rep->element[0]->type != REDIS_REPLY_ARRAY ||
			    rep->element[0]->elements != 2) {
				rc = r_fail(r, rep, "xreadgroup");
				goto out;
			}
			have = entry_of(rep->element[0]->element[1], out->entry, sizeof(out->entry),
			    out->id);
			freeReplyObject(rep);
			rep = NULL;
			if (!have)
				goto out;
		}
		randombytes_buf(&out->lease, sizeof(out->lease));
		out->lease |= 1;
		(void)snprintf(lease, sizeof(lease), "%llu", (unsigned long long)out->lease);
		hash_key(out->id, key);
		cl = redisCommand(r->c, "EVAL %s 2 %s %s %s %s %s %s %s %s", lua_claim, key, STREAM,
		    GROUP, out->entry, lease, max, code, ttl);
		if (cl == NULL || cl->type != REDIS_REPLY_ARRAY || cl->elements < 1 ||
		    cl->element[0]->type != REDIS_REPLY_INTEGER) {
			rc = r_fail(r, cl, "claim");
			goto out;
		}
		if (cl->element[0]->integer > 0 && cl->elements == 2 &&
		    cl->element[1]->type == REDIS_REPLY_STRING && cl->element[1]->len > 0) {
			out->attempt = (unsigned)cl->element[0]->integer;
			rc = eml_buf_append(&out->body, cl->element[1]->str, cl->element[1]->len);
			*got = rc == EML_OK;
		}
		freeReplyObject(cl);
		cl = NULL;
		if (rc != EML_OK)
			goto out;
	}
out:
	pthread_mutex_unlock(&r->mu);
	return rc;
}

static eml_err
rq_script(struct eml_jobq *q, const char *lua, const struct eml_job_claim *c, const char *a3,
    const char *a4, const uint8_t *blob, size_t n)
{
	struct rq *r = q->impl;
	redisReply *rep;
	char key[64], lease[32];
	eml_err rc = EML_OK;

	hash_key(c->id, key);
	(void)snprintf(lease, sizeof(lease), "%llu", (unsigned long long)c->lease);
	pthread_mutex_lock(&r->mu);
	if (blob != NULL)
		rep = redisCommand(r->c, "EVAL %s 2 %s %s %s %s %s %s %b", lua, key, STREAM, lease,
		    GROUP, a3, a4, blob, n);
	else
		rep = redisCommand(r->c, "EVAL %s 2 %s %s %s %s %s %s", lua, key, STREAM, lease,
		    GROUP, a3, a4);
	if (rep == NULL || rep->type != REDIS_REPLY_INTEGER) {
		rc = r_fail(r, rep, "finish");
		goto out;
	}
	if (rep->integer != 1) {
		eml_err_set_detail("lease lost: the job was handed to another worker");
		rc = EML_ERR_JOB_CONFLICT;
	}
	freeReplyObject(rep);
out:
	pthread_mutex_unlock(&r->mu);
	return rc;
}

static eml_err
rq_complete(struct eml_jobq *q, const struct eml_job_claim *c, const uint8_t *result, size_t n)
{
	char ttl[32];

	(void)snprintf(ttl, sizeof(ttl), "%lld", (long long)q->cfg.result_ttl_ms);
	return rq_script(q, lua_finish, c, ttl, "3", result, n);
}

static eml_err
rq_fail(struct eml_jobq *q, const struct eml_job_claim *c, eml_err code, bool permanent)
{
	char a3[32], a4[32];

	if (permanent || c->attempt >= 1 + q->cfg.max_retries) {
		char codes[16];

		(void)snprintf(a3, sizeof(a3), "%lld", (long long)q->cfg.result_ttl_ms);
		(void)snprintf(codes, sizeof(codes), "%d", (int)code);
		return rq_script(q, lua_finish, c, a3, "4", (const uint8_t *)codes, strlen(codes));
	}
	{
		int64_t idle = q->cfg.visibility_ms - eml_jobq_backoff(&q->cfg, c->attempt);

		(void)snprintf(a3, sizeof(a3), "%s", q->cfg.consumer);
		(void)snprintf(a4, sizeof(a4), "%lld", (long long)(idle > 0 ? idle : 0));
	}
	return rq_script(q, lua_retry, c, a3, a4, NULL, 0);
}

static eml_err
rq_expire(struct eml_jobq *q, size_t *removed)
{
	(void)q;
	*removed = 0; /* PEXPIRE on each finished job's hash */
	return EML_OK;
}

static void
rq_close(struct eml_jobq *q)
{
	struct rq *r = q->impl;

	if (r == NULL)
		return;
	if (r->c != NULL)
		redisFree(r->c);
	pthread_mutex_destroy(&r->mu);
	eml_free(r);
	q->impl = NULL;
}

static const struct eml_jobq_ops redis_ops = {
	"redis", rq_put, rq_get, rq_claim, rq_complete, rq_fail, rq_expire, rq_close,
};

eml_err
eml_jobq_redis_open(struct eml_jobq *q, const char *host, int port)
{
	struct rq *r = eml_calloc(1, sizeof(*r));
	struct timeval tv = { 5, 0 };
	redisReply *rep;
	eml_err rc = EML_ERR_INTERNAL;

	if (r == NULL)
		EML_BAIL(EML_ERR_NOMEM);
	if (pthread_mutex_init(&r->mu, NULL) != 0) {
		eml_free(r);
		EML_BAIL(EML_ERR_INTERNAL);
	}
	q->impl = r;
	q->ops = &redis_ops;
	r->c = redisConnectWithTimeout(host, port, tv);
	if (r->c == NULL || r->c->err != 0) {
		eml_err_set_detail("redis %s:%d: %s", host, port,
		    r->c != NULL ? r->c->errstr : "out of memory");
		EML_FAIL(rc, EML_ERR_JOB_QUEUE);
	}
	(void)redisSetTimeout(r->c, tv);
	rep = redisCommand(r->c, "XGROUP CREATE %s %s 0 MKSTREAM", STREAM, GROUP);
	if (rep == NULL || (rep->type == REDIS_REPLY_ERROR && strncmp(rep->str, "BUSYGROUP", 9) != 0)) {
		rc = r_fail(r, rep, "xgroup create");
		goto out;
	}
	freeReplyObject(rep);
	/* Durable before ack only when the server syncs every write. */
	rep = redisCommand(r->c, "CONFIG GET appendfsync");
	if (rep != NULL && rep->type == REDIS_REPLY_ARRAY && rep->elements == 2 &&
	    rep->element[1]->type == REDIS_REPLY_STRING && strcmp(rep->element[1]->str, "always") != 0)
		EML_LOG_WARN("jobs.redis_not_durable", NULL,
		    EML_F_STR("appendfsync", rep->element[1]->str),
		    EML_F_STR("want", "appendonly yes, appendfsync always"));
	if (rep != NULL)
		freeReplyObject(rep);
	rc = EML_OK;
out:
	if (rc != EML_OK) {
		rq_close(q);
		q->ops = NULL;
	}
	return rc;
}
