/* eml-proxy admin endpoint: /status JSON (with its security,
 * configuration and artifacts sections), /metrics text, the POST body
 * parser, the token file, and the libmicrohttpd server over a loopback
 * socket: GETs, 404/405/400, POSTs refused without the right Bearer token
 * and applied with it. */
#include "eml_test.h"

#include <jansson.h>
#include <poll.h>
#include <pthread.h>
#include <sodium.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "eml_io.h"
#include "eml_log.h"
#include "eml_mem.h"
#include "eml_transport.h"
#include "host-proxy/eml_admin.h"

#define HEXID "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"

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

/* ------------------------------------------------------------ server */

struct srv {
	struct eml_admin_server *s;
	pthread_t th;
	atomic_bool quit;
	int port;
};

static void *
poll_main(void *arg)
{
	struct srv *v = arg;

	while (!atomic_load(&v->quit))
		eml_admin_poll(v->s, 50);
	return NULL;
}

static void
srv_start(struct srv *v, const struct eml_admin_view *view, const uint8_t *token)
{
	struct eml_addr a, got;
	int lfd = -1;

	memset(v, 0, sizeof(*v));
	assert_eml_ok(eml_addr_parse("tcp:127.0.0.1:0", &a));
	assert_eml_ok(eml_transport_listen(&a, &lfd));
	assert_eml_ok(eml_transport_local_addr(lfd, &a, &got));
	v->port = (int)got.port;
	assert_eml_ok(eml_admin_start(lfd, view, token, &v->s));
	assert_int_equal(pthread_create(&v->th, NULL, poll_main, v), 0);
}

static void
srv_stop(struct srv *v)
{
	atomic_store(&v->quit, true);
	(void)pthread_join(v->th, NULL);
	eml_admin_stop(v->s);
}

/* One raw HTTP exchange; the response in a static buffer. */
static const char *
http(int port, const char *req, size_t n)
{
	static char resp[EML_ADMIN_RESP_MAX];
	struct eml_addr a;
	int fd = -1;
	ssize_t r;
	size_t got = 0;

	assert_eml_ok(eml_addr_parse("tcp:127.0.0.1:1", &a));
	a.port = (uint32_t)port;
	assert_eml_ok(eml_transport_connect(&a, eml_deadline_in_ms(2000), &fd));
	if (n > 0 && eml_io_write_full(fd, req, n, eml_deadline_in_ms(2000)) != EML_OK)
		eml_err_clear_detail(); /* a server that answers early may stop reading */
	(void)shutdown(fd, SHUT_WR);
	while (eml_io_wait(fd, POLLIN, eml_deadline_in_ms(3000)) == EML_OK &&
	    (r = read(fd, resp + got, sizeof(resp) - 1 - got)) > 0)
		got += (size_t)r;
	eml_err_clear_detail();
	resp[got] = '\0';
	(void)close(fd);
	return resp;
}

static int
status_code(const char *resp)
{
	int code = 0;

	if (sscanf(resp, "HTTP/1.%*d %d", &code) != 1)
		return -1;
	return code;
}

static const char *
post(int port, const char *path, const char *auth, const char *body)
{
	size_t cap = strlen(body) + 1024;
	char *req = eml_alloc(cap);
	const char *r;
	int k;

	assert_non_null(req);
	k = snprintf(req, cap,
	    "POST %s HTTP/1.1\r\nHost: localhost\r\n%s%s%sContent-Type: application/json\r\n"
	    "Content-Length: %zu\r\nConnection: close\r\n\r\n%s",
	    path, auth != NULL ? "Authorization: " : "", auth != NULL ? auth : "",
	    auth != NULL ? "\r\n" : "", strlen(body), body);

	assert_true(k > 0 && (size_t)k < cap);
	r = http(port, req, (size_t)k);
	eml_free(req);
	return r;
}

static const char *TOKEN = "s3cret-admin-token-0123456789";

static void
serve_over_http(void **state)
{
	struct world w;
	struct eml_controls ctl;
	struct srv v;
	uint8_t th[32];
	const char *r, *body;
	json_t *o;
	json_error_t jerr;
	char bearer[128];

	(void)state;
	world_init(&w);
	assert_eml_ok(eml_controls_init(&ctl, NULL, 60, NULL));
	w.view.ctl = &ctl;
	(void)crypto_hash_sha256(th, (const uint8_t *)TOKEN, strlen(TOKEN));
	srv_start(&v, &w.view, th);

	r = http(v.port, "GET /status HTTP/1.0\r\n\r\n", 24);
	assert_int_equal(status_code(r), 200);
	assert_non_null(strstr(r, "application/json"));
	body = strstr(r, "\r\n\r\n");
	assert_non_null(body);
	o = json_loads(body + 4, 0, &jerr);
	if (o == NULL)
		fail_msg("status is not JSON: %s", jerr.text);
	json_decref(o);
	r = http(v.port, "GET /metrics HTTP/1.0\r\n\r\n", 25);
	assert_int_equal(status_code(r), 200);
	assert_non_null(strstr(r, "\neml_proxy_clients_total 42\n"));
	r = http(v.port, "PUT /status HTTP/1.0\r\nContent-Length: 0\r\n\r\n", 43);
	assert_int_equal(status_code(r), 405);
	r = http(v.port, "GET /secret HTTP/1.0\r\n\r\n", 24);
	assert_int_equal(status_code(r), 404);
	/* not HTTP (a TLS hello): libmicrohttpd answers 400 or just closes */
	r = http(v.port, "\x16\x03\x01\x02\x05\x01\x03\r\n\r\n", 11);
	assert_true(r[0] == '\0' || status_code(r) == 400);

	/* changes: no token, a wrong one, a near miss, then the right one */
	r = post(v.port, "/admin/kill-switch", NULL, "{\"enabled\":true}");
	assert_int_equal(status_code(r), 401);
	r = post(v.port, "/admin/kill-switch", "Bearer nope", "{\"enabled\":true}");
	assert_int_equal(status_code(r), 401);
	(void)snprintf(bearer, sizeof(bearer), "Bearer %.*s", (int)strlen(TOKEN) - 1, TOKEN);
	r = post(v.port, "/admin/kill-switch", bearer, "{\"enabled\":true}");
	assert_int_equal(status_code(r), 401);
	(void)snprintf(bearer, sizeof(bearer), "Basic %s", TOKEN);
	r = post(v.port, "/admin/kill-switch", bearer, "{\"enabled\":true}");
	assert_int_equal(status_code(r), 401);
	assert_false(atomic_load(&ctl.kill_switch));
	(void)snprintf(bearer, sizeof(bearer), "Bearer %s", TOKEN);
	r = post(v.port, "/admin/kill-switch", bearer, "{\"enabled\":true}");
	assert_int_equal(status_code(r), 200);
	assert_true(atomic_load(&ctl.kill_switch));
	r = http(v.port, "GET /status HTTP/1.0\r\n\r\n", 24);
	assert_non_null(strstr(r, "\"kill_switch\":true"));
	r = post(v.port, "/admin/kill-switch", bearer, "{\"enabled\":\"no\"}");
	assert_int_equal(status_code(r), 400);
	assert_true(atomic_load(&ctl.kill_switch));
	r = post(v.port, "/admin/kill-switch", bearer, "{\"enabled\":false}");
	assert_int_equal(status_code(r), 200);
	assert_false(atomic_load(&ctl.kill_switch));
	r = post(v.port, "/admin/baseline-only", bearer,
	    "{\"enabled\":true,\"models\":[\"" HEXID "\"]}");
	assert_int_equal(status_code(r), 200);
	assert_true(atomic_load(&ctl.baseline_only));
	assert_int_equal(ctl.n_allow, 1);
	r = http(v.port, "GET /status HTTP/1.0\r\n\r\n", 24);
	assert_non_null(strstr(r, "\"baseline_only\":true,\"allowed_models\":[\"" HEXID "\"]"));
	/* no key file: nothing to reload */
	r = post(v.port, "/admin/keys/reload", bearer, "");
	assert_int_equal(status_code(r), 409);
	r = post(v.port, "/admin/nothing", bearer, "{}");
	assert_int_equal(status_code(r), 404);
	/* a body above the limit */
	{
		char *big = eml_alloc(EML_ADMIN_BODY_MAX + 16);

		assert_non_null(big);
		memset(big, ' ', EML_ADMIN_BODY_MAX + 15);
		big[EML_ADMIN_BODY_MAX + 15] = '\0';
		r = post(v.port, "/admin/kill-switch", bearer, big);
		assert_int_equal(status_code(r), 413);
		eml_free(big);
	}
	srv_stop(&v);

	/* without a token file every POST is 401 */
	srv_start(&v, &w.view, NULL);
	r = post(v.port, "/admin/kill-switch", bearer, "{\"enabled\":true}");
	assert_int_equal(status_code(r), 401);
	assert_false(atomic_load(&ctl.kill_switch));
	srv_stop(&v);
	eml_controls_free(&ctl);
	eml_upstream_pool_free(&w.pool);
}

static void
switch_bodies(void **state)
{
	static const char *const bad[] = {
		"", "[]", "{}", "{\"enabled\":1}", "{\"enabled\":true,\"x\":1}",
		"{\"enabled\":true,\"enabled\":false}",
		"{\"enabled\":true,\"models\":\"" HEXID "\"}",
		"{\"enabled\":true,\"models\":[\"abc\"]}",
		"{\"enabled\":true,\"models\":[1]}",
	};
	uint8_t (*ids)[EML_STORE_ID_LEN] = eml_calloc(EML_ALLOW_MAX, EML_STORE_ID_LEN);
	bool on = false, has = false;
	size_t n = 0;

	(void)state;
	assert_non_null(ids);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (eml_admin_parse_switch((const uint8_t *)bad[i], strlen(bad[i]), true, &on, &has,
		    ids, &n) != EML_ERR_USAGE)
			fail_msg("case %zu accepted", i);
		eml_err_clear_detail();
	}
	/* models only where they belong */
	assert_eml(eml_admin_parse_switch((const uint8_t *)"{\"enabled\":true,\"models\":[]}", 28,
	    false, &on, &has, ids, &n), EML_ERR_USAGE);
	eml_err_clear_detail();
	assert_eml_ok(eml_admin_parse_switch((const uint8_t *)"{\"enabled\":true,\"models\":[]}",
	    28, true, &on, &has, ids, &n));
	assert_true(on);
	assert_true(has);
	assert_int_equal(n, 0);
	assert_eml_ok(eml_admin_parse_switch((const uint8_t *)"{\"enabled\":false}", 17, false, &on,
	    &has, NULL, &n));
	assert_false(on);
	assert_false(has);
	eml_free(ids);
}

static void
token_file(void **state)
{
	char dir[] = "/tmp/eml-admtok-XXXXXX", path[96];
	uint8_t h[32], want[32];
	FILE *f;

	(void)state;
	assert_non_null(mkdtemp(dir));
	(void)snprintf(path, sizeof(path), "%s/token", dir);
	f = fopen(path, "w");
	assert_non_null(f);
	(void)fprintf(f, "%s\n", TOKEN);
	(void)fclose(f);
	assert_eml_ok(eml_admin_token_load(path, h));
	(void)crypto_hash_sha256(want, (const uint8_t *)TOKEN, strlen(TOKEN));
	assert_memory_equal(h, want, 32);
	f = fopen(path, "w");
	(void)fprintf(f, "short\n");
	(void)fclose(f);
	assert_eml(eml_admin_token_load(path, h), EML_ERR_CONFIG);
	f = fopen(path, "w");
	(void)fprintf(f, "has a space in it, long enough\n");
	(void)fclose(f);
	assert_eml(eml_admin_token_load(path, h), EML_ERR_CONFIG);
	(void)unlink(path);
	assert_eml(eml_admin_token_load(path, h), EML_ERR_FILE);
	eml_err_clear_detail();
	(void)rmdir(dir);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(status_json),
		cmocka_unit_test(metrics_text),
		cmocka_unit_test(serve_over_http),
		cmocka_unit_test(switch_bodies),
		cmocka_unit_test(token_file),
	};

	eml_log_set_level(EML_LOG_LEVEL_OFF);
	if (eml_mem_init() != EML_OK)
		return 1;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
