#include "eml_admin.h"

#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "eml_buf.h"
#include "eml_io.h"

#define EML_PROXY_VERSION "0.1.0"

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

/* Byte-string equality for non-secret protocol tokens. */
static bool
tok_eq(const uint8_t *p, size_t n, const char *lit)
{
	size_t k = strlen(lit);

	if (n != k)
		return false;
	for (size_t i = 0; i < n; i++)
		if (p[i] != (uint8_t)lit[i])
			return false;
	return true;
}

static uint64_t
ld(atomic_uint_fast64_t *a)
{
	return (uint64_t)atomic_load(a);
}

eml_err
eml_admin_parse(const uint8_t *req, size_t n, enum eml_admin_route *route)
{
	struct eml_cur c = eml_cur_make(req, n);
	const uint8_t *nl, *line, *sp1, *sp2;
	size_t len, mlen, plen, vlen;

	EML_ENSURE(route != NULL && (req != NULL || n == 0), EML_ERR_NULL);
	nl = n > 0 ? memchr(c.p, '\n', c.left) : NULL;
	EML_ENSURE(nl != NULL, EML_ERR_PROTO_TRUNCATED);
	len = (size_t)(nl - c.p);
	EML_GUARD(eml_cur_take(&c, len, &line));
	if (len > 0 && line[len - 1] == '\r')
		len--;
	/* RFC 1945 §5.1: Request-Line = Method SP Request-URI SP HTTP-Version CRLF */
	sp1 = memchr(line, ' ', len);
	EML_ENSURE(sp1 != NULL, EML_ERR_PROTO);
	mlen = (size_t)(sp1 - line);
	sp2 = memchr(sp1 + 1, ' ', len - mlen - 1);
	EML_ENSURE(sp2 != NULL, EML_ERR_PROTO);
	plen = (size_t)(sp2 - sp1 - 1);
	vlen = len - mlen - 1 - plen - 1;
	EML_ENSURE(mlen >= 1 && mlen <= 16 && plen >= 1, EML_ERR_PROTO);
	for (size_t i = 0; i < mlen; i++)
		EML_ENSURE(line[i] >= 'A' && line[i] <= 'Z', EML_ERR_PROTO);
	for (size_t i = 0; i < plen; i++)
		EML_ENSURE(sp1[1 + i] > 0x20 && sp1[1 + i] < 0x7f, EML_ERR_PROTO);
	EML_ENSURE(sp1[1] == '/', EML_ERR_PROTO);
	EML_ENSURE(tok_eq(sp2 + 1, vlen, "HTTP/1.0") || tok_eq(sp2 + 1, vlen, "HTTP/1.1"),
	    EML_ERR_PROTO);
	if (!tok_eq(line, mlen, "GET")) {
		*route = EML_ADMIN_BAD_METHOD;
		return EML_OK;
	}
	if (tok_eq(sp1 + 1, plen, "/status"))
		*route = EML_ADMIN_STATUS;
	else if (tok_eq(sp1 + 1, plen, "/metrics"))
		*route = EML_ADMIN_METRICS;
	else
		*route = EML_ADMIN_NOT_FOUND;
	return EML_OK;
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

static void audit_health_json(struct out *o, const struct eml_admin_view *v);
static void audit_health_metrics(struct out *o, const struct eml_admin_view *v);
static void metric(struct out *o, const char *name, const char *type, const char *help,
    uint64_t val);

eml_err
eml_admin_status_json(const struct eml_admin_view *v, struct eml_buf *b)
{
	struct out o = { b, EML_OK };
	struct eml_proxy_stats *s;
	struct eml_upstream agents[EML_UPSTREAMS_MAX];
	size_t na = 0;
	int64_t now = eml_now_ms();
	char hex[2 * EML_AUDIT_HASH_LEN + 1];
	uint64_t lines;

	EML_ENSURE(v != NULL && v->stats != NULL && b != NULL, EML_ERR_NULL);
	s = v->stats;
	if (v->agents != NULL)
		na = eml_upstream_pool_snapshot(v->agents, agents, EML_UPSTREAMS_MAX);
	o_fmt(&o, "{\"service\":\"eml-proxy\",\"version\":\"%s\",\"uptime_s\":%" PRId64
		  ",\"draining\":%s,\"test_hooks\":%s,",
	    EML_PROXY_VERSION, (now - s->started_ms) / 1000, v->draining ? "true" : "false",
	    v->test_hooks ? "true" : "false");
	o_fmt(&o, "\"clients\":{\"active\":%" PRIu64 ",\"max\":%u,\"total\":%" PRIu64
		  ",\"rejected_busy\":%" PRIu64 ",\"rejected_no_agent\":%" PRIu64 "},",
	    ld(&s->clients_active), v->max_clients, ld(&s->clients_total),
	    ld(&s->rejected_busy), ld(&s->rejected_no_agent));
	o_str(&o, "\"agents\":[");
	for (size_t i = 0; i < na; i++) {
		const struct eml_upstream *a = &agents[i];

		o_str(&o, i == 0 ? "{\"addr\":" : ",{\"addr\":");
		o_jstr(&o, a->addr);
		o_fmt(&o, ",\"state\":\"%s\",\"checks\":%" PRIu64 ",\"failures\":%" PRIu64
			  ",\"picks\":%" PRIu64 ",\"last_check_age_ms\":%" PRId64
			  ",\"last_err\":%d}",
		    eml_upstream_state_name(a->state), a->checks, a->failures, a->picks,
		    a->last_check_ms == 0 ? (int64_t)-1 : now - a->last_check_ms,
		    (int)a->last_err);
	}
	o_str(&o, "],");
	o_fmt(&o, "\"relay\":{\"frames_client_to_agent\":%" PRIu64
		  ",\"frames_agent_to_client\":%" PRIu64 ",\"bytes_client_to_agent\":%" PRIu64
		  ",\"bytes_agent_to_client\":%" PRIu64 ",\"requests\":%" PRIu64 "},",
	    ld(&s->frames_up), ld(&s->frames_down), ld(&s->bytes_up), ld(&s->bytes_down),
	    ld(&s->requests));
	o_fmt(&o, "\"blobs\":{\"requests\":%" PRIu64 ",\"bytes\":%" PRIu64
		  ",\"errors\":%" PRIu64 "},",
	    ld(&s->blob_requests), ld(&s->blob_bytes), ld(&s->blob_errors));
	o_fmt(&o, "\"timeouts\":{\"handshake\":%" PRIu64 ",\"idle\":%" PRIu64
		  ",\"frame\":%" PRIu64 ",\"request\":%" PRIu64 "},",
	    ld(&s->timeouts_handshake), ld(&s->timeouts_idle), ld(&s->timeouts_frame),
	    ld(&s->timeouts_request));
	o_fmt(&o, "\"errors\":{\"protocol\":%" PRIu64 ",\"agent_lost\":%" PRIu64 "},",
	    ld(&s->proto_errors), ld(&s->agent_lost));
	audit_head(v, hex, &lines);
	o_fmt(&o, "\"audit\":{\"enabled\":%s,\"lines\":%" PRIu64 ",\"head\":\"%s\"",
	    v->audit != NULL ? "true" : "false", lines, hex);
	audit_health_json(&o, v);
	o_str(&o, "}}\n");
	return o.rc;
}

/* Issue 18: the audit log's health, after "head" in the "audit" object,
 * and its /metrics families. Kept apart so the admin front end can be
 * replaced without touching them. */
static void
audit_health_json(struct out *o, const struct eml_admin_view *v)
{
	struct eml_audit_health h;

	if (v->audit != NULL)
		(void)eml_audit_healthy(v->audit, &h);
	else
		memset(&h, 0, sizeof(h));
	o_fmt(o, ",\"healthy\":%s,\"last_error\":", v->audit == NULL || h.healthy ? "true" :
	    "false");
	o_jstr(o, h.last_error);
	o_fmt(o, ",\"lost_lines\":%" PRIu64 ",\"write_failures\":%" PRIu64
		 ",\"repaired_bytes\":%" PRIu64 ",\"refused_requests\":%" PRIu64,
	    h.lost, h.write_failures, h.repaired_bytes, ld(&v->stats->rejected_audit));
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
	metric(&o, "eml_proxy_draining", "gauge", "1 while shutting down.", v->draining ? 1 : 0);
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
	o_str(&o, "# HELP eml_proxy_agent_up 1 when the agent passes health checks.\n"
		  "# TYPE eml_proxy_agent_up gauge\n");
	for (size_t i = 0; i < na; i++) {
		o_str(&o, "eml_proxy_agent_up{agent=\"");
		o_plabel(&o, agents[i].addr);
		o_fmt(&o, "\"} %d\n", agents[i].state == EML_UPSTREAM_UP ? 1 : 0);
	}
	return o.rc;
}

static eml_err
send_response(int fd, int code, const char *reason, const char *ctype, const struct eml_buf *body,
    int64_t deadline)
{
	char head[256];
	int k;

	k = snprintf(head, sizeof(head),
	    "HTTP/1.0 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n"
	    "Cache-Control: no-store\r\nConnection: close\r\n\r\n",
	    code, reason, ctype, body != NULL ? body->len : 0);
	EML_ENSURE(k > 0 && (size_t)k < sizeof(head), EML_ERR_INTERNAL);
	EML_GUARD(eml_io_write_full(fd, head, (size_t)k, deadline));
	if (body != NULL && body->len > 0)
		EML_GUARD(eml_io_write_full(fd, body->data, body->len, deadline));
	return EML_OK;
}

/* Whether the head is complete: a blank line (CRLF CRLF or LF LF). */
static bool
head_complete(const uint8_t *p, size_t n)
{
	for (size_t i = 1; i < n; i++) {
		if (p[i] != '\n')
			continue;
		if (p[i - 1] == '\n' || (i >= 3 && p[i - 1] == '\r' && p[i - 2] == '\n'))
			return true;
	}
	return false;
}

eml_err
eml_admin_serve(int fd, const struct eml_admin_view *v, int64_t deadline)
{
	eml_err rc = EML_ERR_INTERNAL;
	uint8_t req[EML_ADMIN_REQ_MAX];
	size_t n = 0;
	enum eml_admin_route route = EML_ADMIN_NOT_FOUND;
	struct eml_buf body;
	bool eof = false;

	eml_buf_init(&body, EML_ADMIN_RESP_MAX);
	while (n < sizeof(req) && !head_complete(req, n) && !eof) {
		ssize_t r;

		/* A malformed request line is answered at once. */
		if (eml_admin_parse(req, n, &route) == EML_ERR_PROTO)
			break;

		rc = eml_io_wait(fd, POLLIN, deadline);
		if (rc != EML_OK)
			goto out;
		r = read(fd, req + n, sizeof(req) - n);
		if (r < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (r < 0)
			EML_FAIL(rc, EML_ERR_IO);
		if (r == 0)
			eof = true;
		n += (size_t)r;
	}
	rc = eml_admin_parse(req, n, &route);
	if (rc != EML_OK || (!head_complete(req, n) && !eof)) {
		eml_err_clear_detail();
		rc = send_response(fd, 400, "Bad Request", "text/plain", NULL, deadline);
		goto out;
	}
	switch (route) {
	case EML_ADMIN_STATUS:
		if ((rc = eml_admin_status_json(v, &body)) != EML_OK)
			goto out;
		rc = send_response(fd, 200, "OK", "application/json", &body, deadline);
		break;
	case EML_ADMIN_METRICS:
		if ((rc = eml_admin_metrics_text(v, &body)) != EML_OK)
			goto out;
		rc = send_response(fd, 200, "OK", "text/plain; version=0.0.4", &body, deadline);
		break;
	case EML_ADMIN_BAD_METHOD:
		rc = send_response(fd, 405, "Method Not Allowed", "text/plain", NULL, deadline);
		break;
	default:
		rc = send_response(fd, 404, "Not Found", "text/plain", NULL, deadline);
		break;
	}
out:
	eml_buf_free_nowipe(&body);
	return rc;
}
