/* eml-proxy configuration: the admin address must be a loopback literal;
 * defaults are what docs/PROXY.md says. */
#include "eml_test.h"

#include <string.h>

#include "eml_frame.h"
#include "eml_log.h"
#include "host-proxy/eml_proxy.h"

static void
admin_address_is_loopback_only(void **state)
{
	static const char *ok[] = {
		"tcp:127.0.0.1:9100", "tcp:127.255.0.9:1", "tcp:[::1]:9100",
	};
	static const char *bad[] = {
		"tcp:0.0.0.0:9100",     /* every interface */
		"tcp:10.0.0.1:9100",
		"tcp:128.0.0.1:9100",
		"tcp:[::]:9100",
		"tcp:[::ffff:127.0.0.1]:9100", /* mapped: not the v6 loopback */
		"tcp:localhost:9100",   /* a name may resolve elsewhere */
		"unix:/tmp/admin.sock",
		"vsock:3:9100",
		"tcp:127.0.0.1",        /* no port */
		"127.0.0.1:9100",       /* no scheme */
		"",
	};

	(void)state;
	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++)
		if (eml_proxy_check_admin_addr(ok[i]) != EML_OK)
			fail_msg("refused %s", ok[i]);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (eml_proxy_check_admin_addr(bad[i]) != EML_ERR_CONFIG)
			fail_msg("accepted %s", bad[i]);
	assert_eml(eml_proxy_check_admin_addr(NULL), EML_ERR_NULL);
}

static void
defaults(void **state)
{
	struct eml_proxy_config c;

	(void)state;
	memset(&c, 0xa5, sizeof(c));
	eml_proxy_config_defaults(&c);
	assert_null(c.listen);
	assert_null(c.weights);
	assert_null(c.user);
	assert_null(c.capture);
	assert_int_equal(c.nagents, 0);
	assert_int_equal(c.max_clients, 64);
	assert_int_equal(c.frame_max, EML_FRAME_MAX_DEFAULT);
	assert_int_equal(c.handshake_ms, 10000);
	assert_int_equal(c.idle_ms, 60000);
	assert_int_equal(c.frame_ms, 30000);
	assert_true(c.health_ping);
	assert_false(c.no_seccomp);
	assert_int_equal(c.tamper_frame, 0);
	assert_int_equal(c.replay_frame, 0);
}

/* eml_proxy_run refuses bad configurations before touching anything. */
static void
run_refuses_bad_config(void **state)
{
	struct eml_proxy_config c;

	(void)state;
	eml_proxy_config_defaults(&c);
	assert_eml(eml_proxy_run(&c), EML_ERR_CONFIG); /* nothing set */
	c.listen = "tcp:127.0.0.1:0";
	c.weights = "/nonexistent";
	c.agents[0] = "tcp:127.0.0.1:5000"; /* agents are not reached over tcp */
	c.nagents = 1;
	assert_eml(eml_proxy_run(&c), EML_ERR_CONFIG);
	c.agents[0] = "unix:/tmp/a.sock";
	c.listen = "vsock:3:5000"; /* clients come over tcp */
	assert_eml(eml_proxy_run(&c), EML_ERR_CONFIG);
	c.listen = "tcp:127.0.0.1:0";
	c.admin = "tcp:0.0.0.0:9100";
	assert_eml(eml_proxy_run(&c), EML_ERR_CONFIG);
	c.admin = NULL;
	c.max_clients = 0;
	assert_eml(eml_proxy_run(&c), EML_ERR_CONFIG);
	c.max_clients = 1;
	c.agents[0] = "unix:";
	assert_eml(eml_proxy_run(&c), EML_ERR_ADDR);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(admin_address_is_loopback_only),
		cmocka_unit_test(defaults),
		cmocka_unit_test(run_refuses_bad_config),
	};

	eml_log_set_level(EML_LOG_LEVEL_OFF);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
