/* Transport addresses (strict parsing), listen/accept/connect over unix,
 * tcp (IPv4, IPv6 when the host has it) and vsock (where it works). */
#include "eml_test.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "eml_buf.h"
#include "eml_frame.h"
#include "eml_io.h"
#include "eml_mem.h"
#include "eml_transport.h"

static void
parse_good_addresses(void **state)
{
	struct eml_addr a;
	char s[EML_ADDR_STR_MAX];
	static const char *canon[] = {
		"vsock:3:5000", "vsock:0:0", "vsock:4294967295:4294967295", "vsock:16:9000",
		"unix:/tmp/eml.sock", "unix:relative/path", "unix:@x",
		"tcp:127.0.0.1:8080", "tcp:localhost:0", "tcp:example.com:443",
		"tcp:[::1]:65535", "tcp:[fe80::1]:1", "tcp:[::]:0", "tcp:[::ffff:1.2.3.4]:22",
	};

	(void)state;
	for (size_t i = 0; i < sizeof(canon) / sizeof(canon[0]); i++) {
		eml_err rc = eml_addr_parse(canon[i], &a);

		if (rc != EML_OK)
			fail_msg("%s: %s %s", canon[i], eml_err_name(rc), eml_err_detail());
		eml_addr_format(&a, s, sizeof(s));
		assert_string_equal(s, canon[i]);
	}
	assert_eml_ok(eml_addr_parse("vsock:3:5000", &a));
	assert_int_equal(a.kind, EML_ADDR_VSOCK);
	assert_int_equal(a.cid, 3);
	assert_int_equal(a.port, 5000);
	assert_eml_ok(eml_addr_parse("tcp:[::1]:80", &a));
	assert_int_equal(a.kind, EML_ADDR_TCP);
	assert_true(a.v6);
	assert_string_equal(a.host, "::1");
	assert_int_equal(a.port, 80);
	assert_eml_ok(eml_addr_parse("tcp:10.0.0.1:65535", &a));
	assert_false(a.v6);
	assert_string_equal(a.host, "10.0.0.1");
	assert_int_equal(a.port, 65535);
	/* Truncating formatter stays terminated. */
	eml_addr_format(&a, s, 5);
	assert_string_equal(s, "tcp:");
}

static void
parse_rejects_malformed(void **state)
{
	struct eml_addr a;
	char longpath[200];
	static const char *bad[] = {
		"", "vsock", "vsock:", "vsock:3", "vsock:3:", "vsock::5", "vsock::",
		"vsock:-1:5", "vsock:+3:5", "vsock: 3:5", "vsock:3:5 ", "vsock:3 :5",
		"vsock:3:5:6", "vsock:4294967296:5", "vsock:3:4294967296",
		"vsock:99999999999999999999999:1", "vsock:03:5", "vsock:3:05", "vsock:0x3:5",
		"vsock:3:5\n", "vsock:a:5", "VSOCK:3:5", "vsock3:5",
		"unix:", "unix",
		"tcp:", "tcp", "tcp:host", "tcp::80", "tcp:host:", "tcp:host:65536",
		"tcp:host:99999999999999999999999", "tcp:host:-1", "tcp:host:80x",
		"tcp:host:080", "tcp:host:+80", "tcp:host: 80", "tcp:ho st:80",
		"tcp:host/x:80", "tcp:::1:80", "tcp:::1", "tcp:fe80::1:80",
		"tcp:[::1:80", "tcp:[::1]80", "tcp:[::1]:", "tcp:[]:80", "tcp:[zz::1]:80",
		"tcp:[127.0.0.1]:80", "tcp:[::1]:80junk", "tcp:[::1]:80:81", "tcp:[[::1]]:80",
		"TCP:host:80", "udp:host:80", "http://host:80", "host:80", ":80", "tcp:host:80\t",
	};

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		eml_err rc = eml_addr_parse(bad[i], &a);

		if (rc != EML_ERR_ADDR)
			fail_msg("\"%s\" gave %s, want EML_ERR_ADDR", bad[i], eml_err_name(rc));
		/* The detail explains; it never is empty. */
		assert_true(strlen(eml_err_detail()) > 0);
		assert_int_equal(a.kind, 0);
	}
	/* Unix path limit: 107 bytes fit, 108 do not. */
	memcpy(longpath, "unix:", 5);
	memset(longpath + 5, 'p', 107);
	longpath[5 + 107] = '\0';
	assert_eml_ok(eml_addr_parse(longpath, &a));
	assert_int_equal(strlen(a.path), 107);
	longpath[5 + 107] = 'p';
	longpath[5 + 108] = '\0';
	assert_eml(eml_addr_parse(longpath, &a), EML_ERR_ADDR);
	/* Host name limit: 253 fit, 254 do not. */
	{
		char h[300];

		memcpy(h, "tcp:", 4);
		memset(h + 4, 'h', 253);
		memcpy(h + 4 + 253, ":1", 3);
		assert_eml_ok(eml_addr_parse(h, &a));
		memset(h + 4, 'h', 254);
		memcpy(h + 4 + 254, ":1", 3);
		assert_eml(eml_addr_parse(h, &a), EML_ERR_ADDR);
	}
	assert_eml(eml_addr_parse(NULL, &a), EML_ERR_NULL);
}

static bool
is_cloexec(int fd)
{
	int fl = fcntl(fd, F_GETFD);

	return fl >= 0 && (fl & FD_CLOEXEC) != 0;
}

/* Connect + accept + one frame each way. */
static void
exchange(const struct eml_addr *a, int lfd, const char *peer_prefix)
{
	int c = -1, s = -1;
	struct eml_buf in;
	char peer[EML_ADDR_STR_MAX];
	int64_t dl = eml_deadline_in_ms(5000);

	assert_eml_ok(eml_transport_connect(a, dl, &c));
	assert_eml_ok(eml_transport_accept(lfd, dl, &s));
	assert_true(is_cloexec(c));
	assert_true(is_cloexec(s));
	assert_true((fcntl(c, F_GETFL) & O_NONBLOCK) == 0);
	assert_true((fcntl(s, F_GETFL) & O_NONBLOCK) == 0);
	eml_buf_init(&in, 1024);
	assert_eml_ok(eml_frame_write(c, (const uint8_t *)"ping", 4, 1024, dl));
	assert_eml_ok(eml_frame_read(s, 1024, dl, &in));
	assert_int_equal(in.len, 4);
	assert_memory_equal(in.data, "ping", 4);
	assert_eml_ok(eml_frame_write(s, (const uint8_t *)"pong!", 5, 1024, dl));
	assert_eml_ok(eml_frame_read(c, 1024, dl, &in));
	assert_memory_equal(in.data, "pong!", 5);
	eml_transport_peer_string(s, peer, sizeof(peer));
	assert_true(strncmp(peer, peer_prefix, strlen(peer_prefix)) == 0);
	eml_buf_free(&in);
	close(c);
	close(s);
}

static void
tmp_sock_path(char *dst, size_t n, const char *tag)
{
	(void)snprintf(dst, n, "unix:/tmp/eml-found-%ld-%s.sock", (long)getpid(), tag);
}

static void
unix_round_trip_and_stale_socket(void **state)
{
	char s[128];
	struct eml_addr a;
	int lfd, lfd2;

	(void)state;
	tmp_sock_path(s, sizeof(s), "rt");
	assert_eml_ok(eml_addr_parse(s, &a));
	unlink(a.path);
	assert_eml_ok(eml_transport_listen(&a, &lfd));
	assert_true(is_cloexec(lfd));
	exchange(&a, lfd, "unix:");
	/* A live listener is never removed. */
	assert_eml(eml_transport_listen(&a, &lfd2), EML_ERR_LISTEN);
	assert_int_equal(lfd2, -1);
	/* Closing without unlinking leaves a stale file: the next listen
	 * replaces it. */
	close(lfd);
	assert_int_equal(access(a.path, F_OK), 0);
	assert_eml_ok(eml_transport_listen(&a, &lfd));
	exchange(&a, lfd, "unix:");
	close(lfd);
	unlink(a.path);
	/* Nobody listening: connect fails clearly. */
	assert_eml(eml_transport_connect(&a, eml_deadline_in_ms(1000), &lfd), EML_ERR_CONNECT);
}

static void
unix_refuses_to_remove_regular_file(void **state)
{
	char s[128];
	struct eml_addr a;
	int fd, lfd;

	(void)state;
	tmp_sock_path(s, sizeof(s), "file");
	assert_eml_ok(eml_addr_parse(s, &a));
	fd = open(a.path, O_CREAT | O_WRONLY | O_TRUNC | O_CLOEXEC, 0600);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "keep", 4), 4);
	close(fd);
	assert_eml(eml_transport_listen(&a, &lfd), EML_ERR_LISTEN);
	assert_int_equal(access(a.path, F_OK), 0);
	unlink(a.path);
	/* A path in a directory that does not exist. */
	assert_eml_ok(eml_addr_parse("unix:/nonexistent-dir-eml/x.sock", &a));
	assert_eml(eml_transport_listen(&a, &lfd), EML_ERR_LISTEN);
}

static void
tcp_v4_round_trip(void **state)
{
	struct eml_addr a, bound;
	char s[EML_ADDR_STR_MAX];
	int lfd, fd;

	(void)state;
	assert_eml_ok(eml_addr_parse("tcp:127.0.0.1:0", &a));
	assert_eml_ok(eml_transport_listen(&a, &lfd));
	assert_true(is_cloexec(lfd));
	assert_eml_ok(eml_transport_local_addr(lfd, &a, &bound));
	assert_true(bound.port != 0);
	eml_addr_format(&bound, s, sizeof(s));
	assert_true(strncmp(s, "tcp:127.0.0.1:", 14) == 0);
	exchange(&bound, lfd, "tcp:127.0.0.1:");
	/* Port 0 cannot be connected to. */
	assert_eml(eml_transport_connect(&a, eml_deadline_in_ms(1000), &fd), EML_ERR_ADDR);
	/* Nothing accepts: the deadline fires. */
	assert_eml(eml_transport_accept(lfd, eml_deadline_in_ms(100), &fd), EML_ERR_IO_TIMEOUT);
	assert_int_equal(fd, -1);
	close(lfd);
	/* Closed port: refused. */
	assert_eml(eml_transport_connect(&bound, eml_deadline_in_ms(1000), &fd), EML_ERR_CONNECT);
	/* SO_REUSEADDR: the same port can be bound again right away. */
	assert_eml_ok(eml_transport_listen(&bound, &lfd));
	close(lfd);
	/* A name that does not resolve. */
	assert_eml_ok(eml_addr_parse("tcp:no-such-host.invalid:80", &a));
	assert_eml(eml_transport_connect(&a, eml_deadline_in_ms(1000), &fd), EML_ERR_RESOLVE);
}

static void
tcp_v6_round_trip(void **state)
{
	struct eml_addr a, bound;
	int lfd;
	eml_err rc;

	(void)state;
	assert_eml_ok(eml_addr_parse("tcp:[::1]:0", &a));
	rc = eml_transport_listen(&a, &lfd);
	if (rc != EML_OK) {
		printf("skip: no IPv6 loopback here (%s)\n", eml_err_detail());
		skip();
	}
	assert_eml_ok(eml_transport_local_addr(lfd, &a, &bound));
	exchange(&bound, lfd, "tcp:[::1]:");
	close(lfd);
}

/* DESIGN §8: this kernel has no vsock loopback, so this test runs only
 * where a local vsock connection works, and says so when it skips. */
static void
vsock_round_trip_where_available(void **state)
{
	struct eml_addr a, c;
	char s[64];
	int lfd, fd;
	eml_err rc;

	(void)state;
	assert_eml_ok(eml_addr_parse("vsock:4294967295:0", &a));
	a.port = 0x4000 + (uint32_t)(getpid() % 10000);
	rc = eml_transport_listen(&a, &lfd);
	if (rc != EML_OK) {
		printf("skip: vsock listen not available here: %s (%s)\n", eml_err_name(rc),
		    eml_err_detail());
		skip();
	}
	(void)snprintf(s, sizeof(s), "vsock:1:%u", a.port); /* VMADDR_CID_LOCAL */
	assert_eml_ok(eml_addr_parse(s, &c));
	rc = eml_transport_connect(&c, eml_deadline_in_ms(500), &fd);
	if (rc != EML_OK) {
		printf("skip: no vsock loopback on this kernel (CONFIG_VSOCKETS_LOOPBACK, DESIGN "
		       "§8): %s (%s)\n",
		    eml_err_name(rc), eml_err_detail());
		close(lfd);
		skip();
	}
	close(fd);
	/* Drain the probe connection so exchange() accepts its own. */
	assert_eml_ok(eml_transport_accept(lfd, eml_deadline_in_ms(1000), &fd));
	close(fd);
	exchange(&c, lfd, "vsock:");
	close(lfd);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(parse_good_addresses),
		cmocka_unit_test(parse_rejects_malformed),
		cmocka_unit_test(unix_round_trip_and_stale_socket),
		cmocka_unit_test(unix_refuses_to_remove_regular_file),
		cmocka_unit_test(tcp_v4_round_trip),
		cmocka_unit_test(tcp_v6_round_trip),
		cmocka_unit_test(vsock_round_trip_where_available),
	};

	if (eml_mem_init() != EML_OK)
		return 1;
	return cmocka_run_group_tests_name("transport", tests, NULL, NULL);
}
