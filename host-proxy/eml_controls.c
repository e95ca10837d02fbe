#include "eml_controls.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#include "eml_buf.h"
#include "eml_io.h"
#include "eml_log.h"
#include "eml_mem.h"

static void
audit_change(struct eml_controls *c, const char *what, const char *by,
    const struct eml_log_field *extra, size_t n_extra)
{
	struct eml_log_field f[6];
	size_t n = 0;

	f[n++] = (struct eml_log_field)EML_F_STR("control", what);
	f[n++] = (struct eml_log_field)EML_F_STR("by", by);
	for (size_t i = 0; i < n_extra && n < sizeof(f) / sizeof(f[0]); i++)
		f[n++] = extra[i];
	eml_log_emit(EML_LOG_LEVEL_INFO, __func__, "control.changed", NULL, f, n);
	if (c->audit != NULL && eml_audit_append(c->audit, "control", NULL, f, n) != EML_OK)
		EML_LOG_ERROR("audit.write_failed", NULL, EML_F_STR("why", eml_err_detail()));
}

eml_err
eml_controls_init(struct eml_controls *c, const char *keys_path, uint32_t rate_per_addr,
    struct eml_audit *audit)
{
	EML_ENSURE_REF(c);
	memset(c, 0, sizeof(*c));
	(void)pthread_mutex_init(&c->mu, NULL);
	c->audit = audit;
	c->rate_per_addr = rate_per_addr;
	c->keys_path = keys_path;
	c->keys_required = keys_path != NULL;
	EML_GUARD(eml_ratelimit_init(&c->rl, EML_RL_SLOTS_DEFAULT));
	if (keys_path != NULL) {
		eml_err rc = eml_keys_load(keys_path, &c->keys);

		if (rc != EML_OK) {
			eml_ratelimit_free(&c->rl);
			return rc;
		}
	}
	return EML_OK;
}

void
eml_controls_free(struct eml_controls *c)
{
	if (c == NULL)
		return;
	eml_keys_free(&c->keys);
	eml_ratelimit_free(&c->rl);
	(void)pthread_mutex_destroy(&c->mu);
}

static int64_t
unix_now(void)
{
	struct timespec ts;

	(void)clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec;
}

eml_err
eml_controls_auth(struct eml_controls *c, const uint8_t *tok, size_t n, const char *peer,
    struct eml_client_id *id)
{
	const struct eml_key *k = NULL;
	enum eml_key_verdict v;
	char presented[EML_KEY_ID_MAX + 1];

	EML_ENSURE(c != NULL && id != NULL, EML_ERR_NULL);
	id->key_id[0] = '\0';
	id->partner[0] = '\0';
	id->key_rate = 0;
	if (!c->keys_required)
		return EML_OK;
	(void)pthread_mutex_lock(&c->mu);
	v = eml_keys_check(&c->keys, tok, n, unix_now(), &k, presented);
	if (v == EML_KEY_OK) {
		(void)snprintf(id->key_id, sizeof(id->key_id), "%s", k->id);
		(void)snprintf(id->partner, sizeof(id->partner), "%s", k->partner);
		id->key_rate = k->rate_per_minute;
	}
	(void)pthread_mutex_unlock(&c->mu);
	if (v == EML_KEY_OK)
		return EML_OK;
	atomic_fetch_add(&c->rejected_auth, 1);
	/* The operator learns why; the client only that it was refused. */
	EML_LOG_WARN("conn.refused", NULL, EML_F_STR("peer", peer), EML_F_STR("reason", "auth"),
	    EML_F_STR("key", presented), EML_F_STR("why", eml_key_verdict_name(v)));
	if (c->audit != NULL &&
	    EML_AUDIT(c->audit, "conn", NULL, EML_F_STR("peer", peer), EML_F_STR("reason", "auth"),
		EML_F_STR("key", presented[0] != '\0' ? presented : NULL),
		EML_F_STR("why", eml_key_verdict_name(v)), EML_F_ERR(EML_ERR_AUTH)) != EML_OK)
		EML_LOG_ERROR("audit.write_failed", NULL, EML_F_STR("why", eml_err_detail()));
	EML_BAIL(EML_ERR_AUTH);
}

/* The key in force for id now (a reload may have revoked or re-rated it).
 * Caller holds mu. */
static const struct eml_key *
key_now(const struct eml_controls *c, const char *key_id, int64_t now)
{
	for (size_t i = 0; i < c->keys.n; i++) {
		const struct eml_key *k = &c->keys.keys[i];

		if (strcmp(k->id, key_id) != 0)
			continue;
		if (k->revoked || (k->not_after != 0 && now >= k->not_after) ||
		    (k->not_before != 0 && now < k->not_before))
			return NULL;
		return k;
	}
	return NULL;
}

eml_err
eml_controls_admit(struct eml_controls *c, const struct eml_client_id *id, int64_t now_ms,
    int64_t *retry_ms, const char **which)
{
	char addr[EML_RL_NAME_MAX], key[EML_RL_NAME_MAX];
	struct eml_rl_charge ch;
	int refused;

	EML_ENSURE(c != NULL && id != NULL && retry_ms != NULL && which != NULL, EML_ERR_NULL);
	*retry_ms = 0;
	*which = NULL;
	if (atomic_load(&c->kill_switch)) {
		atomic_fetch_add(&c->rejected_kill, 1);
		*which = "kill_switch";
		EML_BAIL(EML_ERR_KILL_SWITCH);
	}
	(void)snprintf(addr, sizeof(addr), "a:%.76s", id->host);
	(void)snprintf(key, sizeof(key), "k:%s", id->key_id);
	memset(&ch, 0, sizeof(ch));
	ch.name[0] = addr;
	ch.rate[0] = c->rate_per_addr;
	(void)pthread_mutex_lock(&c->mu);
	if (c->keys_required && id->key_id[0] != '\0') {
		const struct eml_key *k = key_now(c, id->key_id, unix_now());

		if (k == NULL) {
			(void)pthread_mutex_unlock(&c->mu);
			atomic_fetch_add(&c->rejected_auth, 1);
			*which = "key_withdrawn";
			EML_BAIL(EML_ERR_AUTH);
		}
		ch.name[1] = key;
		ch.rate[1] = k->rate_per_minute;
	}
	refused = eml_ratelimit_take(&c->rl, &ch, now_ms, retry_ms);
	(void)pthread_mutex_unlock(&c->mu);
	if (refused < 0)
		return EML_OK;
	atomic_fetch_add(refused == 0 ? &c->rejected_rate_addr : &c->rejected_rate_key, 1);
	*which = refused == 0 ? "rate_addr" : "rate_key";
	EML_BAIL(EML_ERR_RATE_LIMITED);
}

bool
eml_controls_model_allowed(struct eml_controls *c, const uint8_t id[EML_STORE_ID_LEN])
{
	bool ok = false;

	if (!atomic_load(&c->baseline_only))
		return true;
	(void)pthread_mutex_lock(&c->mu);
	for (size_t i = 0; i < c->n_allow && !ok; i++)
		ok = memcmp(c->allow[i], id, EML_STORE_ID_LEN) == 0;
	(void)pthread_mutex_unlock(&c->mu);
	if (!ok)
		atomic_fetch_add(&c->rejected_model, 1);
	return ok;
}

void
eml_controls_set_kill(struct eml_controls *c, bool on, const char *by)
{
	const struct eml_log_field f[] = { EML_F_BOOL("enabled", on) };

	if (on && !atomic_load(&c->kill_switch))
		atomic_store(&c->kill_since_ms, eml_now_ms());
	atomic_store(&c->kill_switch, on);
	audit_change(c, "kill_switch", by, f, 1);
}

eml_err
eml_controls_set_baseline(struct eml_controls *c, bool on, bool set_list,
    const uint8_t (*ids)[EML_STORE_ID_LEN], size_t n, const char *by)
{
	size_t count;

	EML_ENSURE(c != NULL && (ids != NULL || n == 0), EML_ERR_NULL);
	if (n > EML_ALLOW_MAX) {
		eml_err_set_detail("at most %u models on the allowlist", EML_ALLOW_MAX);
		EML_BAIL(EML_ERR_USAGE);
	}
	(void)pthread_mutex_lock(&c->mu);
	if (set_list) {
		for (size_t i = 0; i < n; i++)
			EML_MEMCPY(c->allow[i], ids[i], EML_STORE_ID_LEN);
		c->n_allow = n;
	}
	count = c->n_allow;
	atomic_store(&c->baseline_only, on);
	(void)pthread_mutex_unlock(&c->mu);
	{
		const struct eml_log_field f[] = { EML_F_BOOL("enabled", on),
			EML_F_U64("models", count) };

		audit_change(c, "baseline_only", by, f, 2);
	}
	return EML_OK;
}

eml_err
eml_controls_reload_keys(struct eml_controls *c, const char *by)
{
	struct eml_keyset fresh, old;
	eml_err rc;

	EML_ENSURE_REF(c);
	if (!c->keys_required) {
		eml_err_set_detail("no --api-keys file to reload");
		EML_BAIL(EML_ERR_CONFIG);
	}
	rc = eml_keys_load(c->keys_path, &fresh);
	if (rc != EML_OK) {
		const struct eml_log_field f[] = { EML_F_ERR(rc),
			EML_F_STR("why", eml_err_detail()) };

		atomic_fetch_add(&c->keys_reload_errors, 1);
		audit_change(c, "keys_reload_failed", by, f, 2);
		return rc;
	}
	(void)pthread_mutex_lock(&c->mu);
	old = c->keys;
	c->keys = fresh;
	(void)pthread_mutex_unlock(&c->mu);
	eml_keys_free(&old);
	atomic_fetch_add(&c->keys_reloads, 1);
	{
		const struct eml_log_field f[] = { EML_F_U64("keys", fresh.n) };

		audit_change(c, "keys_reload", by, f, 1);
	}
	return EML_OK;
}
