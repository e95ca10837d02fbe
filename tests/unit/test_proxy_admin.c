/* eml-proxy admin endpoint: request parsing, /status JSON, /metrics text,
 * and the responder over a socket pair (including a silent peer). */
#include "eml_test.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "eml_io.h"
#include "eml_log.h"
#include "eml_mem.h"
#include "host-proxy/eml_admin.h"

static enum eml_admin_route
route_of(const char *req)
{
	enum eml_admin_route r = 0;

	assert_eml_ok(eml_admin_parse((const uint8_t *)req, strlen(req), &r));
	return r;
}

static void
parse_requests(void **state)
{
	enum eml_admin_route r;
	static const char *bad[] = {
		"GET /status\r\n",               /* no version */
		"GET  /status HTTP/1.0\r\n",     /* double space */
		"GET /status HTTP/2.0\r\n",
		"GET /status HTTP/1.0 x\r\n",
		"get /status HTTP/1.0\r\n",
		"GET status HTTP/1.0\r\n",
		"GET /sta\x01tus HTTP/1.0\r\n",
		"\r\n",
		"GET /status HTTP/1.00\r\n",
		"AVERYVERYLONGMETHODNAME / HTTP/1.0\r\n",
	};

	(void)state;
	assert_int_equal(route_of("GET /status HTTP/1.0\r\n\r\n"), EML_ADMIN_STATUS);
	assert_int_equal(route_of("GET /status HTTP/1.1\nHost: x\n\n"), EML_ADMIN_STATUS);
	assert_int_equal(route_of("GET /metrics HTTP/1.1\r\n"), EML_ADMIN_METRICS);
	assert_int_equal(route_of("GET /metrics/ HTTP/1.1\r\n"), EML_ADMIN_NOT_FOUND);
	assert_int_equal(route_of("GET /statusx HTTP/1.1\r\n"), EML_ADMIN_NOT_FOUND);
	assert_int_equal(route_of("GET /status?x=1 HTTP/1.1\r\n"), EML_ADMIN_NOT_FOUND);
	assert_int_equal(route_of("GET / HTTP/1.1\r\n"), EML_ADMIN_NOT_FOUND);
	assert_int_equal(route_of("POST /status HTTP/1.1\r\n"), EML_ADMIN_BAD_METHOD);
	assert_int_equal(route_of("DELETE /metrics HTTP/1.0\r\n"), EML_ADMIN_BAD_METHOD);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (eml_admin_parse((const uint8_t *)bad[i], strlen(bad[i]), &r) != EML_ERR_PROTO)
			fail_msg("accepted bad request %zu: %s", i, bad[i]);
	}
	assert_eml(eml_admin_parse((const uint8_t *)"GET /status HTTP/1.0", 20, &r),
	    EML_ERR_PROTO_TRUNCATED);
	assert_eml(eml_admin_parse(NULL, 0, &r), EML_ERR_PROTO_TRUNCATED);
	assert_eml(eml_admin_parse((const uint8_t *)"x", 1, NULL), EML_ERR_NULL);
}

struct world {
	struct eml_proxy_stats stats;
	struct eml_upstream_pool pool;
	struct eml_admin_view view;
};

static void
world_init(struct world *w)
{
	static const char *const addrs[] = { "unix:/tmp/a0", "unix:/tmp/we\"ird\\" };

	memset(w, 0, sizeof(*w));
	w->stats.started_ms = eml_now_ms() - 5000;
	atomic_store(&w->stats.clients_active, 3);
	atomic_store(&w->stats.clients_total, 42);
	atomic_store(&w->stats.rejected_busy, 7);
	atomic_store(&w->stats.bytes_up, 1234567);
	atomic_store(&w->stats.blob_bytes, 4194304);
	atomic_store(&w->stats.timeouts_handshake, 2);
	assert_eml_ok(eml_upstream_pool_init(&w->pool, addrs, 2, 1, 1));
	eml_upstream_pool_report(&w->pool, 0, EML_OK, eml_now_ms());
	eml_upstream_pool_report(&w->pool, 1, EML_ERR_CONNECT, eml_now_ms());
	w->view.stats = &w->stats;
	w->view.agents = &w->pool;
	w->view.max_clients = 64;
}

static void
status_json(void **state)
{
	struct world w;
	struct eml_buf b;
	json_t *o, *agents, *a1;
	json_error_t jerr;

	(void)state;
	world_init(&w);
	eml_buf_init(&b, EML_ADMIN_RESP_MAX);
	assert_eml_ok(eml_admin_status_json(&w.view, &b));
	o = json_loadb((const char *)b.data, b.len, JSON_REJECT_DUPLICATES, &jerr);
	if (o == NULL)
		fail_msg("status is not JSON: %s", jerr.text);
	assert_int_equal(json_integer_value(json_object_get(o, "uptime_s")), 5);
	assert_true(json_is_false(json_object_get(o, "draining")));
	assert_int_equal(json_integer_value(json_object_get(json_object_get(o, "clients"), "active")), 3);
	assert_int_equal(json_integer_value(json_object_get(json_object_get(o, "clients"), "max")), 64);
	assert_int_equal(json_integer_value(json_object_get(json_object_get(o, "clients"),
	    "rejected_busy")), 7);
	assert_int_equal(json_integer_value(json_object_get(json_object_get(o, "relay"),
	    "bytes_client_to_agent")), 1234567);
	assert_int_equal(json_integer_value(json_object_get(json_object_get(o, "blobs"), "bytes")),
	    4194304);
	assert_int_equal(json_integer_value(json_object_get(json_object_get(o, "timeouts"),
	    "handshake")), 2);
	agents = json_object_get(o, "agents");
	assert_int_equal(json_array_size(agents), 2);
	assert_string_equal(json_string_value(json_object_get(json_array_get(agents, 0), "state")), "up");
	a1 = json_array_get(agents, 1);
	assert_string_equal(json_string_value(json_object_get(a1, "addr")), "unix:/tmp/we\"ird\\");
	assert_string_equal(json_string_value(json_object_get(a1, "state")), "down");
	assert_int_equal(json_integer_value(json_object_get(a1, "last_err")), EML_ERR_CONNECT);
	assert_false(json_is_true(json_object_get(json_object_get(o, "audit"), "enabled")));
	json_decref(o);

	/* a ceiling too small for the page is an error, not a truncated page */
	eml_buf_free(&b);
	eml_buf_init(&b, 64);
	assert_eml(eml_admin_status_json(&w.view, &b), EML_ERR_PROTO_TOO_LARGE);
	eml_buf_free(&b);
	eml_upstream_pool_free(&w.pool);
}

static bool
has_line(const struct eml_buf *b, const char *line)
{
	size_t k = strlen(line);

	for (size_t i = 0; i + k <= b->len; i++)
		if ((i == 0 || b->data[i - 1] == '\n') && memcmp(b->data + i, line, k) == 0 &&
		    (i + k == b->len || b->data[i + k] == '\n'))
			return true;
	return false;
}

static void
metrics_text(void **state)
{
	struct world w;
	struct eml_buf b;

	(void)state;
	world_init(&w);
	eml_buf_init(&b, EML_ADMIN_RESP_MAX);
	assert_eml_ok(eml_admin_metrics_text(&w.view, &b));
	assert_true(has_line(&b, "# TYPE eml_proxy_clients_active gauge"));
	assert_true(has_line(&b, "eml_proxy_clients_active 3"));
	assert_true(has_line(&b, "eml_proxy_clients_total 42"));
	assert_true(has_line(&b, "eml_proxy_clients_rejected_total{reason=\"busy\"} 7"));
	assert_true(has_line(&b, "eml_proxy_bytes_total{direction=\"client_to_agent\"} 1234567"));
	assert_true(has_line(&b, "eml_proxy_timeouts_total{deadline=\"handshake\"} 2"));
	assert_true(has_line(&b, "eml_proxy_agent_up{agent=\"unix:/tmp/a0\"} 1"));
	assert_true(has_line(&b, "eml_proxy_agent_up{agent=\"unix:/tmp/we\\\"ird\\\\\"} 0"));
	assert_false(has_line(&b, "eml_proxy_clients_active 4"));
	/* every non-comment line is "name[{labels}] value" */
	for (size_t i = 0, start = 0; i < b.len; i++) {
		if (b.data[i] != '\n')
			continue;
		if (b.data[start] != '#') {
			const uint8_t *sp = memchr(b.data + start, ' ', i - start);

			assert_non_null(sp);
			assert_true(b.data[start] == 'e');
		}
		start = i + 1;
	}
	eml_buf_free(&b);
	eml_upstream_pool_free(&w.pool);
}

/* Send req on one end of a socket pair, serve on the other, return the
 * response (static buffer). */
static const char *
exchange(struct world *w, const char *req, eml_err want)
{
	static char resp[EML_ADMIN_RESP_MAX];
	int sv[2];
	ssize_t n;
	size_t got = 0;

	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	if (req != NULL)
		assert_int_equal(write(sv[1], req, strlen(req)), (ssize_t)strlen(req));
	assert_eml(eml_admin_serve(sv[0], &w->view, eml_deadline_in_ms(300)), want);
	(void)close(sv[0]);
	while ((n = read(sv[1], resp + got, sizeof(resp) - 1 - got)) > 0)
		got += (size_t)n;
	resp[got] = '\0';
	(void)close(sv[1]);
	return resp;
}

static void
serve_over_socket(void **state)
{
	struct world w;
	const char *r, *body;
	unsigned long clen;
	json_t *o;
	json_error_t jerr;

	(void)state;
	world_init(&w);
	r = exchange(&w, "GET /status HTTP/1.1\r\nHost: localhost\r\nUser-Agent: t\r\n\r\n", EML_OK);
	assert_true(strncmp(r, "HTTP/1.0 200 OK\r\n", 17) == 0);
	assert_non_null(strstr(r, "Content-Type: application/json\r\n"));
	assert_int_equal(sscanf(strstr(r, "Content-Length: "), "Content-Length: %lu", &clen), 1);
	body = strstr(r, "\r\n\r\n") + 4;
	assert_int_equal(strlen(body), clen);
	o = json_loads(body, 0, &jerr);
	assert_non_null(o);
	json_decref(o);

	r = exchange(&w, "GET /metrics HTTP/1.0\r\n\r\n", EML_OK);
	assert_true(strncmp(r, "HTTP/1.0 200 OK\r\n", 17) == 0);
	assert_non_null(strstr(r, "text/plain; version=0.0.4"));
	assert_non_null(strstr(r, "\neml_proxy_clients_total 42\n"));

	r = exchange(&w, "POST /status HTTP/1.0\r\n\r\n", EML_OK);
	assert_true(strncmp(r, "HTTP/1.0 405 ", 13) == 0);
	r = exchange(&w, "GET /secret HTTP/1.0\r\n\r\n", EML_OK);
	assert_true(strncmp(r, "HTTP/1.0 404 ", 13) == 0);
	r = exchange(&w, "\x16\x03\x01\x02\x05\x01\x03\n", EML_OK);
	assert_true(strncmp(r, "HTTP/1.0 400 ", 13) == 0);
	/* a request line without its blank line, then silence: no answer but
	 * a timeout, within the deadline */
	r = exchange(&w, "GET /status HTTP/1.0\r\n", EML_ERR_IO_TIMEOUT);
	assert_string_equal(r, "");
	r = exchange(&w, NULL, EML_ERR_IO_TIMEOUT);
	assert_string_equal(r, "");
	eml_upstream_pool_free(&w.pool);
}

/* A head that never ends within the size limit gets 400. */
static void
oversize_head(void **state)
{
	struct world w;
	char *big = eml_alloc(EML_ADMIN_REQ_MAX + 100);
	const char *r;

	(void)state;
	assert_non_null(big);
	world_init(&w);
	memcpy(big, "GET /status HTTP/1.0\r\nX: ", 25);
	memset(big + 25, 'a', EML_ADMIN_REQ_MAX + 100 - 26);
	big[EML_ADMIN_REQ_MAX + 99] = '\0';
	r = exchange(&w, big, EML_OK);
	assert_true(strncmp(r, "HTTP/1.0 400 ", 13) == 0);
	eml_free(big);
	eml_upstream_pool_free(&w.pool);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(parse_requests),
		cmocka_unit_test(status_json),
		cmocka_unit_test(metrics_text),
		cmocka_unit_test(serve_over_socket),
		cmocka_unit_test(oversize_head),
	};

	eml_log_set_level(EML_LOG_LEVEL_OFF);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
