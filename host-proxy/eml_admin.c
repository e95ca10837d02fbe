#include "eml_admin.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <jansson.h>
#include <microhttpd.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "eml_artifacts.h"
#include "eml_buf.h"
#include "eml_io.h"
#include "eml_log.h"
#include "eml_mem.h"

#define EML_PROXY_VERSION "0.1.0"
/* Blobs listed in /status. */
#define EML_ADMIN_ARTIFACTS_MAX 4096u

/* Appender with a latched error, so page builders read as straight code. */
struct out {
	struct eml_buf *b;
	eml_err rc;
};

static void
o_raw(struct out *o, const char *s, size_t n)
{
	if (o->rc == EML_OK)
		o->rc = eml_buf_append(o->b, s, n);
}

static void
o_str(struct out *o, const char *s)
{
	o_raw(o, s, strlen(s));
}

static void
o_fmt(struct out *o, const char *fmt, ...) EML_PRINTF(2, 3);

static void
o_fmt(struct out *o, const char *fmt, ...)
{
	char tmp[256];
	va_list ap;
	int k;

	va_start(ap, fmt);
	k = vsnprintf(tmp, sizeof(tmp), fmt, ap);
	va_end(ap);
	if (k < 0 || (size_t)k >= sizeof(tmp)) {
		if (o->rc == EML_OK)
			o->rc = EML_ERR_INTERNAL;
		return;
	}
	o_raw(o, tmp, (size_t)k);
}

/* JSON string, plain ASCII out (everything odd escaped). */
static void
o_jstr(struct out *o, const char *s)
{
	o_raw(o, "\"", 1);
	for (const unsigned char *c = (const unsigned char *)s; *c != '\0'; c++) {
		char e[6];

		o_raw(o, e, eml_json_escape_byte(*c, e));
	}
	o_raw(o, "\"", 1);
}

/* Prometheus label value: backslash, double quote and newline escaped
 * (exposition format 0.0.4); other control bytes dropped. */
static void
o_plabel(struct out *o, const char *s)
{
	for (const unsigned char *c = (const unsigned char *)s; *c != '\0'; c++) {
		if (*c == '"' || *c == '\\') {
			char e[2] = { '\\', (char)*c };

			o_raw(o, e, 2);
		} else if (*c == '\n') {
			o_raw(o, "\\n", 2);
		} else if (*c >= 0x20 && *c < 0x7f) {
			o_raw(o, (const char *)c, 1);
		}
	}
}

static uint64_t
ld(atomic_uint_fast64_t *a)
{
	return (uint64_t)atomic_load(a);
}

static void
audit_head(const struct eml_admin_view *v, char hex[2 * EML_AUDIT_HASH_LEN + 1], uint64_t *lines)
{
	uint8_t head[EML_AUDIT_HASH_LEN] = { 0 };

	*lines = 0;
	if (v->audit != NULL)
		eml_audit_head(v->audit, head, lines);
	eml_hex_encode(hex, head, sizeof(head));
}

static void audit_health_json(json_t *audit, const struct eml_admin_view *v, bool *bad);
static void audit_health_metrics(struct out *o, const struct eml_admin_view *v);
static void metric(struct out *o, const char *name, const char *type, const char *help,
    uint64_t val);

/*
 * GET /status is built as a jansson tree and serialized once: compact,
 * members in insertion order, ASCII only (everything else escaped).
 * Counters are unsigned 64-bit; JSON integers here are signed, so a value
 * beyond INT64_MAX (never reached in practice) is clamped rather than
 * wrapped.
 */
static json_int_t
ji(uint64_t v)
{
	return v > (uint64_t)INT64_MAX ? (json_int_t)INT64_MAX : (json_int_t)v;
}

/* A JSON string of s; bytes that are not valid UTF-8 become '?'. */
static json_t *
jstr(const char *s)
{
	char tmp[256];
	size_t i;
	json_t *j;

	if (s == NULL)
		return json_null();
	if ((j = json_string(s)) != NULL)
		return j;
	for (i = 0; s[i] != '\0' && i + 1 < sizeof(tmp); i++)
		tmp[i] = (unsigned char)s[i] < 0x80 ? s[i] : '?';
	tmp[i] = '\0';
	return json_string(tmp);
}

/* Set key on obj; a NULL value (jansson could not allocate) latches *bad. */
static void
jset(json_t *obj, const char *key, json_t *val, bool *bad)
{
	if (val == NULL || obj == NULL || json_object_set_new(obj, key, val) != 0)
		*bad = true;
}

static void
jpush(json_t *arr, json_t *val, bool *bad)
{
	if (val == NULL || arr == NULL || json_array_append_new(arr, val) != 0)
		*bad = true;
}

struct list_ctx {
	json_t *arr;
	bool *bad;
	const struct eml_store *store;
	const struct eml_admin_settings *st;
};

/* One blob: its size, availability and signature state (eml_artifacts.h:
 * "signed" means a well-formed signature file naming an allowed signer;
 * the proxy cannot check the signature itself, the agent does).
 * "served" says whether a request for it would be served now
 * (--strict-artifacts serves only signed blobs). */
static eml_err
artifact_one(void *arg, const struct eml_store_entry *e)
{
	struct list_ctx *l = arg;
	const struct eml_admin_settings *st = l->st;
	char hex[2 * EML_STORE_ID_LEN + 1], khex[2 * 32 + 1];
	uint8_t kid[32];
	bool has_key = false;
	enum eml_artifact_sig sig = eml_artifact_sig_state(l->store, e->id,
	    st != NULL ? st->signers : NULL, kid, &has_key);
	bool strict = st != NULL && st->strict_artifacts;

	eml_hex_encode(hex, e->id, sizeof(e->id));
	if (has_key)
		eml_hex_encode(khex, kid, sizeof(kid));
	jpush(l->arr,
	    json_pack("{s:s, s:I, s:o, s:s, s:b, s:b, s:b}", "content_id", hex, "size",
		ji(e->size), "signer_key_id", has_key ? json_string(khex) : json_null(),
		"signature", eml_artifact_sig_name(sig), "signature_valid",
		(int)(sig == EML_ARTIFACT_SIGNED), "available", (int)e->available, "served",
		(int)(e->available && (!strict || sig == EML_ARTIFACT_SIGNED))),
	    l->bad);
	return *l->bad ? EML_ERR_NOMEM : EML_OK;
}

/* The attestation producer the agents announce in their Pongs: "nsm" or
 * "sim" when every agent that announced one says the same, "mixed" when
 * they differ, "unknown" when none has (connect-only health checks, no
 * probe answered yet). The agents' word on the host: a client trusts only
 * the attestation document it verifies. */
static const char *
agents_producer(const struct eml_admin_view *v)
{
	struct eml_upstream agents[EML_UPSTREAMS_MAX];
	const char *seen = NULL;
	size_t na = 0;

	if (v->agents != NULL)
		na = eml_upstream_pool_snapshot(v->agents, agents, EML_UPSTREAMS_MAX);
	for (size_t i = 0; i < na; i++) {
		const char *p = agents[i].producer;

		if (strcmp(p, "nsm") != 0 && strcmp(p, "sim") != 0)
			continue;
		if (seen != NULL && strcmp(seen, p) != 0)
			return "mixed";
		seen = strcmp(p, "nsm") == 0 ? "nsm" : "sim";
	}
	return seen != NULL ? seen : "unknown";
}

static json_t *
status_security(const struct eml_admin_view *v)
{
	const struct eml_admin_settings *st = v->settings;

	return json_pack("{s:s, s:b, s:b, s:b, s:b, s:i, s:b}", "attestation_producer",
	    agents_producer(v),
	    "api_keys_required", st != NULL && st->api_keys_required, "tls", st != NULL && st->tls,
	    "signature_verification_required", st != NULL && st->strict_artifacts, "seccomp",
	    st != NULL && st->seccomp, "landlock", st != NULL ? st->landlock : 0, "admin_token",
	    st != NULL && st->admin_token);
}

static json_t *
status_refused(struct eml_controls *c)
{
	return json_pack("{s:I, s:I, s:I, s:I, s:I, s:I, s:I}", "auth", ji(ld(&c->rejected_auth)),
	    "rate_addr", ji(ld(&c->rejected_rate_addr)), "rate_key",
	    ji(ld(&c->rejected_rate_key)), "kill_switch", ji(ld(&c->rejected_kill)),
	    "model_blocked", ji(ld(&c->rejected_model)), "keys_reloads",
	    ji(ld(&c->keys_reloads)), "keys_reload_errors", ji(ld(&c->keys_reload_errors)));
}

/* security, configuration, refusals and artifacts */
static void
status_controls(json_t *root, const struct eml_admin_view *v, bool *bad)
{
	const struct eml_admin_settings *st = v->settings;
	struct eml_controls *c = v->ctl;
	json_t *conf, *allow = json_array(), *arts = json_array();
	size_t n_keys = 0;

	jset(root, "security", status_security(v), bad);
	conf = json_pack("{s:b, s:b, s:b}", "strict_artifacts_only",
	    st != NULL && st->strict_artifacts, "kill_switch",
	    c != NULL && atomic_load(&c->kill_switch), "baseline_only",
	    c != NULL && atomic_load(&c->baseline_only));
	if (c != NULL) {
		(void)pthread_mutex_lock(&c->mu);
		for (size_t i = 0; i < c->n_allow; i++) {
			char hex[2 * EML_STORE_ID_LEN + 1];

			eml_hex_encode(hex, c->allow[i], EML_STORE_ID_LEN);
			jpush(allow, json_string(hex), bad);
		}
		n_keys = c->keys.n;
		(void)pthread_mutex_unlock(&c->mu);
	}
	jset(conf, "allowed_models", allow, bad);
	jset(conf, "rate_limit_per_minute",
	    json_integer(st != NULL ? (json_int_t)st->rate_limit_per_minute : 0), bad);
	jset(conf, "api_keys", json_integer(ji(n_keys)), bad);
	jset(conf, "signers",
	    json_integer(st != NULL && st->signers != NULL ? (json_int_t)st->signers->n : 0), bad);
	jset(root, "configuration", conf, bad);
	if (c != NULL)
		jset(root, "refused", status_refused(c), bad);
	if (v->store != NULL && arts != NULL) {
		struct list_ctx l = { arts, bad, v->store, st };
		size_t n = 0;

		if (eml_store_list(v->store, EML_ADMIN_ARTIFACTS_MAX, artifact_one, &l, &n) !=
		    EML_OK && !*bad)
			eml_err_clear_detail();
	}
	jset(root, "artifacts", arts, bad);
}

static json_t *
status_agents(const struct eml_admin_view *v, int64_t now, bool *bad)
{
	struct eml_upstream agents[EML_UPSTREAMS_MAX];
	size_t na = 0;
	json_t *arr = json_array();

	if (v->agents != NULL)
		na = eml_upstream_pool_snapshot(v->agents, agents, EML_UPSTREAMS_MAX);
	for (size_t i = 0; i < na; i++) {
		const struct eml_upstream *a = &agents[i];

		jpush(arr,
		    json_pack("{s:o, s:s, s:I, s:I, s:I, s:I, s:i, s:s}", "addr", jstr(a->addr),
			"state", eml_upstream_state_name(a->state), "checks", ji(a->checks),
			"failures", ji(a->failures), "picks", ji(a->picks), "last_check_age_ms",
			(json_int_t)(a->last_check_ms == 0 ? (int64_t)-1 : now - a->last_check_ms),
			"last_err", (int)a->last_err, "producer",
			a->producer[0] != '\0' ? a->producer : "unknown"),
		    bad);
	}
	return arr;
}

static void
status_counters(json_t *root, struct eml_proxy_stats *s, unsigned max_clients, bool *bad)
{
	jset(root, "clients",
	    json_pack("{s:I, s:i, s:I, s:I, s:I}", "active", ji(ld(&s->clients_active)), "max",
		(int)max_clients, "total", ji(ld(&s->clients_total)), "rejected_busy",
		ji(ld(&s->rejected_busy)), "rejected_no_agent", ji(ld(&s->rejected_no_agent))),
	    bad);
}

static void
status_traffic(json_t *root, struct eml_proxy_stats *s, bool *bad)
{
	jset(root, "relay",
	    json_pack("{s:I, s:I, s:I, s:I, s:I}", "frames_client_to_agent", ji(ld(&s->frames_up)),
		"frames_agent_to_client", ji(ld(&s->frames_down)), "bytes_client_to_agent",
		ji(ld(&s->bytes_up)), "bytes_agent_to_client", ji(ld(&s->bytes_down)),
		"requests", ji(ld(&s->requests))),
	    bad);
	jset(root, "blobs",
	    json_pack("{s:I, s:I, s:I}", "requests", ji(ld(&s->blob_requests)), "bytes",
		ji(ld(&s->blob_bytes)), "errors", ji(ld(&s->blob_errors))),
	    bad);
	jset(root, "timeouts",
	    json_pack("{s:I, s:I, s:I, s:I}", "handshake", ji(ld(&s->timeouts_handshake)), "idle",
		ji(ld(&s->timeouts_idle)), "frame", ji(ld(&s->timeouts_frame)), "request",
		ji(ld(&s->timeouts_request))),
	    bad);
	jset(root, "errors",
	    json_pack("{s:I, s:I}", "protocol", ji(ld(&s->proto_errors)), "agent_lost",
		ji(ld(&s->agent_lost))),
	    bad);
}

/* The tree serialized into b, with a newline. */
static eml_err
dump_json(json_t *root, struct eml_buf *b)
{
	const size_t flags = JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_ENSURE_ASCII;
	size_t n = json_dumpb(root, NULL, 0, flags);
	uint8_t *where;

	EML_ENSURE(n != 0, EML_ERR_NOMEM);
	EML_GUARD(eml_buf_extend(b, n + 1, &where));
	if (json_dumpb(root, (char *)where, n, flags) != n)
		EML_BAIL(EML_ERR_INTERNAL);
	where[n] = '\n';
	return EML_OK;
}

eml_err
eml_admin_status_json(const struct eml_admin_view *v, struct eml_buf *b)
{
	struct eml_proxy_stats *s;
	int64_t now = eml_now_ms();
	char hex[2 * EML_AUDIT_HASH_LEN + 1];
	uint64_t lines;
	bool bad = false;
	json_t *root, *audit;
	eml_err rc;

	EML_ENSURE(v != NULL && v->stats != NULL && b != NULL, EML_ERR_NULL);
	s = v->stats;
	root = json_pack("{s:s, s:s, s:I, s:b, s:b}", "service", "eml-proxy", "version",
	    EML_PROXY_VERSION, "uptime_s", (json_int_t)((now - s->started_ms) / 1000), "draining",
	    (int)(v->draining_flag != NULL ? atomic_load(v->draining_flag) : v->draining),
	    "test_hooks", (int)v->test_hooks);
	if (root == NULL)
		EML_BAIL(EML_ERR_NOMEM);
	status_counters(root, s, v->max_clients, &bad);
	jset(root, "agents", status_agents(v, now, &bad), &bad);
	status_traffic(root, s, &bad);
	audit_head(v, hex, &lines);
	audit = json_pack("{s:b, s:I, s:s}", "enabled", v->audit != NULL, "lines", ji(lines),
	    "head", hex);
	audit_health_json(audit, v, &bad);
	jset(root, "audit", audit, &bad);
	status_controls(root, v, &bad);
	rc = bad ? EML_ERR_NOMEM : dump_json(root, b);
	json_decref(root);
	if (rc != EML_OK)
		return eml_err_record(rc, __FILE__, __LINE__, __func__);
	return EML_OK;
}

/* Issue 18: the audit log's health, after "head" in the "audit" object,
 * and its /metrics families. Kept apart so the admin front end can be
 * replaced without touching them. */
static void
audit_health_json(json_t *audit, const struct eml_admin_view *v, bool *bad)
{
	struct eml_audit_health h;

	if (v->audit != NULL)
		(void)eml_audit_healthy(v->audit, &h);
	else
		memset(&h, 0, sizeof(h));
	jset(audit, "healthy", json_boolean(v->audit == NULL || h.healthy), bad);
	jset(audit, "last_error", jstr(h.last_error), bad);
	jset(audit, "lost_lines", json_integer(ji(h.lost)), bad);
	jset(audit, "write_failures", json_integer(ji(h.write_failures)), bad);
	jset(audit, "repaired_bytes", json_integer(ji(h.repaired_bytes)), bad);
	jset(audit, "refused_requests", json_integer(ji(ld(&v->stats->rejected_audit))), bad);
}

static void
audit_health_metrics(struct out *o, const struct eml_admin_view *v)
{
	struct eml_audit_health h;

	if (v->audit == NULL)
		return;
	(void)eml_audit_healthy(v->audit, &h);
	metric(o, "eml_proxy_audit_healthy", "gauge",
	    "1 when the last audit line was written (and synced).", h.healthy ? 1 : 0);
	metric(o, "eml_proxy_audit_write_failures_total", "counter",
	    "Audit lines that could not be written.", h.write_failures);
	metric(o, "eml_proxy_audit_lost_lines", "gauge",
	    "Audit lines lost since the log last failed (recorded in an audit_gap line).", h.lost);
	metric(o, "eml_proxy_audit_refused_total", "counter",
	    "Requests refused because the audit log could not be written.",
	    ld(&v->stats->rejected_audit));
}

static void
metric(struct out *o, const char *name, const char *type, const char *help, uint64_t val)
{
	o_fmt(o, "# HELP %s %s\n# TYPE %s %s\n%s %" PRIu64 "\n", name, help, name, type, name,
	    val);
}

/* A metric with one label: HELP and TYPE once, then one sample for each of
 * the n label values, in order. */
static void
metric_by(struct out *o, const char *name, const char *type, const char *help,
    const char *label, size_t n, const char *const *values, const uint64_t *vals)
{
	o_fmt(o, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
	for (size_t i = 0; i < n; i++)
		o_fmt(o, "%s{%s=\"%s\"} %" PRIu64 "\n", name, label, values[i], vals[i]);
}

eml_err
eml_admin_metrics_text(const struct eml_admin_view *v, struct eml_buf *b)
{
	struct out o = { b, EML_OK };
	struct eml_proxy_stats *s;
	struct eml_upstream agents[EML_UPSTREAMS_MAX];
	size_t na = 0;
	uint64_t lines;
	char hex[2 * EML_AUDIT_HASH_LEN + 1];
	static const char *const directions[] = { "client_to_agent", "agent_to_client" };

	EML_ENSURE(v != NULL && v->stats != NULL && b != NULL, EML_ERR_NULL);
	s = v->stats;
	if (v->agents != NULL)
		na = eml_upstream_pool_snapshot(v->agents, agents, EML_UPSTREAMS_MAX);
	metric(&o, "eml_proxy_uptime_seconds", "gauge", "Seconds since start.",
	    (uint64_t)((eml_now_ms() - s->started_ms) / 1000));
	metric(&o, "eml_proxy_draining", "gauge", "1 while shutting down.",
	    (v->draining_flag != NULL ? atomic_load(v->draining_flag) : v->draining) ? 1 : 0);
	metric(&o, "eml_proxy_clients_active", "gauge", "Client connections being relayed.",
	    ld(&s->clients_active));
	metric(&o, "eml_proxy_clients_max", "gauge", "Concurrent client limit.", v->max_clients);
	metric(&o, "eml_proxy_clients_total", "counter", "Client connections accepted.",
	    ld(&s->clients_total));
	metric_by(&o, "eml_proxy_clients_rejected_total", "counter", "Client connections refused.",
	    "reason", 2, (const char *const[]){ "busy", "no_agent" },
	    (const uint64_t[]){ ld(&s->rejected_busy), ld(&s->rejected_no_agent) });
	metric_by(&o, "eml_proxy_frames_total", "counter", "Frames relayed.", "direction", 2,
	    directions, (const uint64_t[]){ ld(&s->frames_up), ld(&s->frames_down) });
	metric_by(&o, "eml_proxy_bytes_total", "counter",
	    "Bytes relayed, frame headers included.", "direction", 2, directions,
	    (const uint64_t[]){ ld(&s->bytes_up), ld(&s->bytes_down) });
	metric(&o, "eml_proxy_requests_total", "counter", "Requests answered by an agent.",
	    ld(&s->requests));
	metric(&o, "eml_proxy_blob_requests_total", "counter", "Blob ranges served.",
	    ld(&s->blob_requests));
	metric(&o, "eml_proxy_blob_bytes_total", "counter", "Blob bytes served.",
	    ld(&s->blob_bytes));
	metric(&o, "eml_proxy_blob_errors_total", "counter", "Blob requests refused.",
	    ld(&s->blob_errors));
	metric_by(&o, "eml_proxy_timeouts_total", "counter", "Connections dropped by a deadline.",
	    "deadline", 4, (const char *const[]){ "handshake", "idle", "frame", "request" },
	    (const uint64_t[]){ ld(&s->timeouts_handshake), ld(&s->timeouts_idle),
	    ld(&s->timeouts_frame), ld(&s->timeouts_request) });
	metric(&o, "eml_proxy_protocol_errors_total", "counter", "Malformed frames or envelopes.",
	    ld(&s->proto_errors));
	metric(&o, "eml_proxy_agent_lost_total", "counter", "Agent connections lost mid-session.",
	    ld(&s->agent_lost));
	audit_head(v, hex, &lines);
	metric(&o, "eml_proxy_audit_lines", "gauge", "Lines in the audit log chain.", lines);
	audit_health_metrics(&o, v);
	if (v->ctl != NULL) {
		struct eml_controls *c = v->ctl;

		metric_by(&o, "eml_proxy_requests_refused_total", "counter",
		    "Requests refused by the operator's controls.", "reason", 5,
		    (const char *const[]){ "auth", "rate_addr", "rate_key", "kill_switch",
			"model_blocked" },
		    (const uint64_t[]){ ld(&c->rejected_auth), ld(&c->rejected_rate_addr),
			ld(&c->rejected_rate_key), ld(&c->rejected_kill), ld(&c->rejected_model) });
		metric(&o, "eml_proxy_kill_switch", "gauge", "1 while the kill switch is on.",
		    atomic_load(&c->kill_switch) ? 1 : 0);
		metric(&o, "eml_proxy_baseline_only", "gauge", "1 while only allowlisted models are served.",
		    atomic_load(&c->baseline_only) ? 1 : 0);
		metric(&o, "eml_proxy_keys_reloads_total", "counter", "API key file reloads.",
		    ld(&c->keys_reloads));
	}
	o_str(&o, "# HELP eml_proxy_agent_up 1 when the agent passes health checks.\n"
		  "# TYPE eml_proxy_agent_up gauge\n");
	for (size_t i = 0; i < na; i++) {
		o_str(&o, "eml_proxy_agent_up{agent=\"");
		o_plabel(&o, agents[i].addr);
		o_fmt(&o, "\"} %d\n", agents[i].state == EML_UPSTREAM_UP ? 1 : 0);
	}
	return o.rc;
}


/* ------------------------------------------------------------ POST bodies */

eml_err
eml_admin_parse_switch(const uint8_t *body, size_t n, bool allow_models, bool *enabled,
    bool *has_models, uint8_t (*ids)[EML_STORE_ID_LEN], size_t *n_ids)
{
	eml_err rc = EML_ERR_USAGE;
	json_error_t jerr;
	json_t *root = NULL, *v, *m;
	const char *name;
	size_t i;

	EML_ENSURE(enabled != NULL && has_models != NULL && n_ids != NULL, EML_ERR_NULL);
	EML_ENSURE(body != NULL || n == 0, EML_ERR_NULL);
	*enabled = false;
	*has_models = false;
	*n_ids = 0;
	if (n > EML_ADMIN_BODY_MAX) {
		eml_err_set_detail("body above %u bytes", EML_ADMIN_BODY_MAX);
		EML_BAIL(EML_ERR_USAGE);
	}
	root = json_loadb((const char *)body, n, JSON_REJECT_DUPLICATES, &jerr);
	if (root == NULL || !json_is_object(root)) {
		eml_err_set_detail("the body must be a JSON object");
		goto out;
	}
	json_object_foreach(root, name, v) {
		(void)v;
		if (strcmp(name, "enabled") != 0 && (!allow_models || strcmp(name, "models") != 0)) {
			eml_err_set_detail("unknown member \"%.32s\"", name);
			goto out;
		}
	}
	v = json_object_get(root, "enabled");
	if (!json_is_boolean(v)) {
		eml_err_set_detail("\"enabled\" must be true or false");
		goto out;
	}
	*enabled = json_is_true(v);
	m = json_object_get(root, "models");
	if (m != NULL) {
		if (!json_is_array(m) || json_array_size(m) > EML_ALLOW_MAX || ids == NULL) {
			eml_err_set_detail("\"models\" must be an array of at most %u content ids",
			    EML_ALLOW_MAX);
			goto out;
		}
		json_array_foreach(m, i, v) {
			if (!json_is_string(v) || json_string_length(v) != 2 * EML_STORE_ID_LEN ||
			    eml_hex_decode(ids[i], EML_STORE_ID_LEN, json_string_value(v)) != EML_OK) {
				eml_err_set_detail("\"models\"[%zu] is not a content id (64 hex digits)",
				    i);
				goto out;
			}
		}
		*has_models = true;
		*n_ids = json_array_size(m);
	}
	rc = EML_OK;
out:
	json_decref(root);
	if (rc != EML_OK)
		return eml_err_record(rc, __FILE__, __LINE__, __func__);
	return EML_OK;
}

eml_err
eml_admin_token_load(const char *path, uint8_t hash[32])
{
	char buf[EML_ADMIN_TOKEN_MAX + 2];
	ssize_t r;
	size_t n;
	int fd;

	EML_ENSURE(path != NULL && hash != NULL, EML_ERR_NULL);
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0) {
		eml_err_set_detail("--admin-token-file %s: %s", path, strerror(errno));
		EML_BAIL(EML_ERR_FILE);
	}
	r = read(fd, buf, sizeof(buf));
	(void)close(fd);
	if (r < 0) {
		eml_err_set_detail("--admin-token-file %s: %s", path, strerror(errno));
		EML_BAIL(EML_ERR_FILE);
	}
	n = (size_t)r;
	while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
		n--;
	for (size_t i = 0; i < n; i++) {
		if (buf[i] <= 0x20 || buf[i] >= 0x7f) {
			eml_wipe(buf, sizeof(buf));
			eml_err_set_detail("--admin-token-file: one line of printable ASCII, no spaces");
			EML_BAIL(EML_ERR_CONFIG);
		}
	}
	if (n < EML_ADMIN_TOKEN_MIN || n > EML_ADMIN_TOKEN_MAX) {
		eml_wipe(buf, sizeof(buf));
		eml_err_set_detail("--admin-token-file: the token must be %u..%u bytes",
		    EML_ADMIN_TOKEN_MIN, EML_ADMIN_TOKEN_MAX);
		EML_BAIL(EML_ERR_CONFIG);
	}
	(void)crypto_hash_sha256(hash, (const uint8_t *)buf, n);
	eml_wipe(buf, sizeof(buf));
	return EML_OK;
}

/* ------------------------------------------------------------ server */

struct eml_admin_server {
	struct MHD_Daemon *d;
	const struct eml_admin_view *v;
	uint8_t token[32];
	bool have_token;
	int lfd;
};

/* Per-request state: a POST body being read. */
struct req {
	struct eml_buf body;
	bool too_big;
	bool authed;
};

static enum MHD_Result
reply(struct MHD_Connection *conn, unsigned code, const char *ctype, const void *p, size_t n)
{
	struct MHD_Response *r;
	enum MHD_Result ret;

	r = MHD_create_response_from_buffer(n, (void *)(uintptr_t)p, MHD_RESPMEM_MUST_COPY);
	if (r == NULL)
		return MHD_NO;
	(void)MHD_add_response_header(r, "Content-Type", ctype);
	(void)MHD_add_response_header(r, "Cache-Control", "no-store");
	ret = MHD_queue_response(conn, code, r);
	MHD_destroy_response(r);
	return ret;
}

static enum MHD_Result
reply_json_msg(struct MHD_Connection *conn, unsigned code, const char *msg)
{
	char body[512];
	struct eml_buf b;
	struct out o;
	enum MHD_Result ret;

	eml_buf_init(&b, sizeof(body) * 2);
	o.b = &b;
	o.rc = EML_OK;
	o_str(&o, code < 300 ? "{\"ok\":true,\"message\":" : "{\"ok\":false,\"error\":");
	o_jstr(&o, msg);
	o_str(&o, "}\n");
	ret = o.rc == EML_OK ? reply(conn, code, "application/json", b.data, b.len) : MHD_NO;
	eml_buf_free_nowipe(&b);
	return ret;
}

/* "Bearer TOKEN", compared by hash in constant time. */
static bool
authorized(const struct eml_admin_server *s, struct MHD_Connection *conn)
{
	const char *h = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Authorization");
	uint8_t got[32];
	bool ok;

	if (!s->have_token || h == NULL || strncmp(h, "Bearer ", 7) != 0)
		return false;
	(void)crypto_hash_sha256(got, (const uint8_t *)h + 7, strnlen(h + 7, 4096));
	ok = sodium_memcmp(got, s->token, sizeof(got)) == 0;
	eml_wipe(got, sizeof(got));
	return ok;
}

static enum MHD_Result
serve_get(const struct eml_admin_server *s, struct MHD_Connection *conn, const char *url)
{
	struct eml_buf b;
	enum MHD_Result ret;
	eml_err rc;
	const char *ctype;

	eml_buf_init(&b, EML_ADMIN_RESP_MAX);
	if (strcmp(url, "/status") == 0) {
		rc = eml_admin_status_json(s->v, &b);
		ctype = "application/json";
	} else if (strcmp(url, "/metrics") == 0) {
		rc = eml_admin_metrics_text(s->v, &b);
		ctype = "text/plain; version=0.0.4";
	} else {
		eml_buf_free_nowipe(&b);
		return reply(conn, MHD_HTTP_NOT_FOUND, "text/plain", "not found\n", 10);
	}
	if (rc != EML_OK) {
		eml_err_clear_detail();
		ret = reply(conn, MHD_HTTP_INTERNAL_SERVER_ERROR, "text/plain", "error\n", 6);
	} else {
		ret = reply(conn, MHD_HTTP_OK, ctype, b.data, b.len);
	}
	eml_buf_free_nowipe(&b);
	return ret;
}

static enum MHD_Result
serve_post(const struct eml_admin_server *s, struct MHD_Connection *conn, const char *url,
    const struct req *rq)
{
	struct eml_controls *ctl = s->v->ctl;
	uint8_t(*ids)[EML_STORE_ID_LEN] = NULL;
	bool on = false, has = false;
	size_t n = 0;
	eml_err rc;
	enum MHD_Result ret;
	char msg[256];

	if (ctl == NULL)
		return reply_json_msg(conn, MHD_HTTP_SERVICE_UNAVAILABLE, "no controls");
	if (strcmp(url, "/admin/keys/reload") == 0) {
		rc = eml_controls_reload_keys(ctl, "admin");
		if (rc != EML_OK) {
			(void)snprintf(msg, sizeof(msg), "%s: %s", eml_err_name(rc), eml_err_detail());
			eml_err_clear_detail();
			return reply_json_msg(conn, rc == EML_ERR_CONFIG ? MHD_HTTP_CONFLICT :
									  MHD_HTTP_UNPROCESSABLE_CONTENT, msg);
		}
		(void)snprintf(msg, sizeof(msg), "%zu keys in force", ctl->keys.n);
		return reply_json_msg(conn, MHD_HTTP_OK, msg);
	}
	if (strcmp(url, "/admin/kill-switch") == 0) {
		rc = eml_admin_parse_switch(rq->body.data, rq->body.len, false, &on, &has, NULL, &n);
		if (rc != EML_OK) {
			(void)snprintf(msg, sizeof(msg), "%s", eml_err_detail());
			eml_err_clear_detail();
			return reply_json_msg(conn, MHD_HTTP_BAD_REQUEST, msg);
		}
		eml_controls_set_kill(ctl, on, "admin");
		return reply_json_msg(conn, MHD_HTTP_OK, on ? "kill switch on" : "kill switch off");
	}
	if (strcmp(url, "/admin/baseline-only") == 0) {
		ids = eml_calloc(EML_ALLOW_MAX, EML_STORE_ID_LEN);
		if (ids == NULL)
			return reply_json_msg(conn, MHD_HTTP_INTERNAL_SERVER_ERROR, "no memory");
		rc = eml_admin_parse_switch(rq->body.data, rq->body.len, true, &on, &has, ids, &n);
		if (rc == EML_OK)
			rc = eml_controls_set_baseline(ctl, on, has,
			    (const uint8_t(*)[EML_STORE_ID_LEN])ids, n, "admin");
		if (rc != EML_OK) {
			(void)snprintf(msg, sizeof(msg), "%s", eml_err_detail());
			eml_err_clear_detail();
			ret = reply_json_msg(conn, MHD_HTTP_BAD_REQUEST, msg);
		} else {
			(void)snprintf(msg, sizeof(msg), "baseline-only %s", on ? "on" : "off");
			ret = reply_json_msg(conn, MHD_HTTP_OK, msg);
		}
		eml_free(ids);
		return ret;
	}
	return reply(conn, MHD_HTTP_NOT_FOUND, "text/plain", "not found\n", 10);
}

static enum MHD_Result
on_request(void *cls, struct MHD_Connection *conn, const char *url, const char *method,
    const char *version, const char *upload, size_t *upload_size, void **con_cls)
{
	struct eml_admin_server *s = cls;
	struct req *rq = *con_cls;

	(void)version;
	if (strcmp(method, MHD_HTTP_METHOD_GET) == 0) {
		if (*upload_size != 0)
			return MHD_NO;
		return serve_get(s, conn, url);
	}
	if (strcmp(method, MHD_HTTP_METHOD_POST) != 0)
		return reply(conn, MHD_HTTP_METHOD_NOT_ALLOWED, "text/plain", "GET or POST\n", 12);
	if (rq == NULL) {
		/* First call: headers only. Unauthorized POSTs are answered
		 * before their body is read. */
		if (!authorized(s, conn)) {
			EML_LOG_WARN("admin.unauthorized", NULL, EML_F_STR("path", url));
			return reply_json_msg(conn, MHD_HTTP_UNAUTHORIZED,
			    s->have_token ? "Authorization: Bearer TOKEN required" :
					    "no --admin-token-file: nothing can be changed at run time");
		}
		rq = eml_calloc(1, sizeof(*rq));
		if (rq == NULL)
			return MHD_NO;
		eml_buf_init(&rq->body, EML_ADMIN_BODY_MAX);
		rq->authed = true;
		*con_cls = rq;
		return MHD_YES;
	}
	if (*upload_size != 0) {
		if (eml_buf_append(&rq->body, upload, *upload_size) != EML_OK) {
			eml_err_clear_detail();
			rq->too_big = true;
		}
		*upload_size = 0;
		return MHD_YES;
	}
	if (rq->too_big)
		return reply_json_msg(conn, MHD_HTTP_CONTENT_TOO_LARGE, "body too large");
	return serve_post(s, conn, url, rq);
}

static void
on_done(void *cls, struct MHD_Connection *conn, void **con_cls, enum MHD_RequestTerminationCode t)
{
	struct req *rq = *con_cls;

	(void)cls;
	(void)conn;
	(void)t;
	if (rq != NULL) {
		eml_buf_free_nowipe(&rq->body);
		eml_free(rq);
		*con_cls = NULL;
	}
}

eml_err
eml_admin_start(int lfd, const struct eml_admin_view *v, const uint8_t *token_hash,
    struct eml_admin_server **out)
{
	struct eml_admin_server *s;

	EML_ENSURE(lfd >= 0 && v != NULL && out != NULL, EML_ERR_NULL);
	*out = NULL;
	s = eml_calloc(1, sizeof(*s));
	EML_ENSURE(s != NULL, EML_ERR_NOMEM);
	s->v = v;
	s->lfd = lfd;
	if (token_hash != NULL) {
		EML_MEMCPY(s->token, token_hash, sizeof(s->token));
		s->have_token = true;
	}
	/* External mode (no thread of its own), no ITC, our own listening
	 * socket: nothing is opened or spawned later. */
	s->d = MHD_start_daemon(MHD_USE_ERROR_LOG, 0, NULL, NULL, on_request, s,
	    MHD_OPTION_LISTEN_SOCKET, (MHD_socket)lfd, MHD_OPTION_CONNECTION_LIMIT, 16u,
	    MHD_OPTION_CONNECTION_TIMEOUT, 2u, MHD_OPTION_CONNECTION_MEMORY_LIMIT,
	    (size_t)(32u * 1024u), MHD_OPTION_NOTIFY_COMPLETED, on_done, s, MHD_OPTION_END);
	if (s->d == NULL) {
		eml_free(s);
		eml_err_set_detail("libmicrohttpd did not start");
		EML_BAIL(EML_ERR_INTERNAL);
	}
	*out = s;
	return EML_OK;
}

void
eml_admin_poll(struct eml_admin_server *s, int64_t ms)
{
	if (s == NULL)
		return;
	(void)MHD_run_wait(s->d, (int32_t)(ms < 0 ? 0 : ms > 60000 ? 60000 : ms));
}

void
eml_admin_stop(struct eml_admin_server *s)
{
	if (s == NULL)
		return;
	/* closes the listening socket too */
	MHD_stop_daemon(s->d);
	eml_wipe(s->token, sizeof(s->token));
	eml_free(s);
}
