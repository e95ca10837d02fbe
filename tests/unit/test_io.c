/* eml_io: deadlines, partial-read accounting, peer-gone and bad-fd paths.
 * (The framing tests in test_frame.c drive EINTR and short transfers.) */
#include "eml_test.h"

#include <fcntl.h>
#include <stdio.h>
#include <sys/socket.h>
#include <unistd.h>

#include "eml_io.h"
#include "eml_mem.h"

static void
deadline_arithmetic(void **state)
{
	int64_t now = eml_now_ms(), d;

	(void)state;
	assert_true(now > 0);
	assert_true(eml_deadline_in_ms(-1) == EML_DEADLINE_NONE);
	assert_true(eml_deadline_in_ms(INT64_MIN) == EML_DEADLINE_NONE);
	/* Saturates instead of wrapping into the past. */
	assert_true(eml_deadline_in_ms(INT64_MAX) == EML_DEADLINE_NONE);
	d = eml_deadline_in_ms(1000);
	assert_true(d >= now + 1000 && d < now + 3000);
	assert_true(eml_deadline_in_ms(0) >= now);
}

static void
read_full_reports_partial(void **state)
{
	int sv[2];
	uint8_t buf[16];
	size_t got = 99;

	(void)state;
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	assert_eml_ok(eml_io_write_full(sv[0], "abcde", 5, eml_deadline_in_ms(1000)));
	close(sv[0]);
	assert_eml(eml_io_read_full(sv[1], buf, sizeof(buf), eml_deadline_in_ms(1000), &got),
	    EML_ERR_IO_EOF);
	assert_int_equal(got, 5);
	assert_memory_equal(buf, "abcde", 5);
	/* Nothing at all. */
	assert_eml(eml_io_read_full(sv[1], buf, 1, eml_deadline_in_ms(1000), &got), EML_ERR_IO_EOF);
	assert_int_equal(got, 0);
	/* Zero bytes is an immediate success. */
	assert_eml_ok(eml_io_read_full(sv[1], buf, 0, eml_deadline_in_ms(1000), &got));
	assert_int_equal(got, 0);
	close(sv[1]);
}

static void
timeout_reports_partial(void **state)
{
	int sv[2];
	uint8_t buf[8];
	size_t got = 0;

	(void)state;
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	assert_eml_ok(eml_io_write_full(sv[0], "xy", 2, eml_deadline_in_ms(1000)));
	assert_eml(eml_io_read_full(sv[1], buf, sizeof(buf), eml_deadline_in_ms(100), &got),
	    EML_ERR_IO_TIMEOUT);
	assert_int_equal(got, 2);
	assert_true(strlen(eml_err_detail()) > 0);
	close(sv[0]);
	close(sv[1]);
}

static void
bad_descriptors(void **state)
{
	int p[2];
	uint8_t b = 0;

	(void)state;
	assert_int_equal(pipe(p), 0);
	close(p[0]);
	close(p[1]);
	/* A closed descriptor: an error, not a hang or a crash. */
	assert_eml(eml_io_wait(p[0], 1 /* POLLIN */, eml_deadline_in_ms(1000)), EML_ERR_IO);
	assert_eml(eml_io_read_full(p[0], &b, 1, eml_deadline_in_ms(1000), NULL), EML_ERR_IO);
	assert_eml(eml_io_write_full(p[1], &b, 1, eml_deadline_in_ms(1000)), EML_ERR_IO);
	assert_eml(eml_io_set_cloexec(p[0]), EML_ERR_IO);
	assert_eml(eml_io_read_full(0, NULL, 1, eml_deadline_in_ms(1000), NULL), EML_ERR_NULL);
}

static void
flags(void **state)
{
	int p[2];

	(void)state;
	assert_int_equal(pipe(p), 0);
	assert_eml_ok(eml_io_set_cloexec(p[0]));
	assert_true((fcntl(p[0], F_GETFD) & FD_CLOEXEC) != 0);
	assert_eml_ok(eml_io_set_nonblock(p[0], 1));
	assert_true((fcntl(p[0], F_GETFL) & O_NONBLOCK) != 0);
	/* Works on a non-blocking descriptor too: EAGAIN is waited out. */
	assert_eml_ok(eml_io_write_full(p[1], "z", 1, eml_deadline_in_ms(1000)));
	{
		char c = 0;

		assert_eml_ok(eml_io_read_full(p[0], &c, 1, eml_deadline_in_ms(1000), NULL));
		assert_int_equal(c, 'z');
		assert_eml(eml_io_read_full(p[0], &c, 1, eml_deadline_in_ms(50), NULL),
		    EML_ERR_IO_TIMEOUT);
	}
	assert_eml_ok(eml_io_set_nonblock(p[0], 0));
	assert_true((fcntl(p[0], F_GETFL) & O_NONBLOCK) == 0);
	close(p[0]);
	close(p[1]);
}

/* eml_io_read_full_now reads before it polls and eml_io_writev_full
 * writes before it polls: neither may block past the deadline on a
 * blocking descriptor, socket or not, and both still move the bytes. */
static void
first_try_keeps_deadlines(void **state)
{
	int sv[2], p[2];
	uint8_t buf[8], *big;
	size_t got = 99, big_n = 8u << 20;
	char c = 0;

	(void)state;
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	/* blocking socket, nothing there: a timeout, not a hang */
	assert_eml(eml_io_read_full_now(sv[1], buf, 1, eml_deadline_in_ms(50), &got),
	    EML_ERR_IO_TIMEOUT);
	assert_int_equal(got, 0);
	assert_eml_ok(eml_io_write_full(sv[0], "abc", 3, eml_deadline_in_ms(1000)));
	assert_eml_ok(eml_io_read_full_now(sv[1], buf, 3, eml_deadline_in_ms(1000), &got));
	assert_int_equal(got, 3);
	assert_memory_equal(buf, "abc", 3);
	/* part there: the rest is waited for, until the deadline */
	assert_eml_ok(eml_io_write_full(sv[0], "de", 2, eml_deadline_in_ms(1000)));
	assert_eml(eml_io_read_full_now(sv[1], buf, 4, eml_deadline_in_ms(50), &got),
	    EML_ERR_IO_TIMEOUT);
	assert_int_equal(got, 2);
	/* nobody reads: more than the socket holds times out */
	big = eml_calloc(1, big_n);
	assert_non_null(big);
	assert_eml(eml_io_write_full(sv[0], big, big_n, eml_deadline_in_ms(50)), EML_ERR_IO_TIMEOUT);
	eml_free(big);
	close(sv[0]);
	close(sv[1]);
	/* not a socket: polled first, both ways */
	assert_int_equal(pipe(p), 0);
	assert_eml(eml_io_read_full_now(p[0], buf, 1, eml_deadline_in_ms(50), &got),
	    EML_ERR_IO_TIMEOUT);
	assert_eml_ok(eml_io_write_full(p[1], "z", 1, eml_deadline_in_ms(1000)));
	assert_eml_ok(eml_io_read_full_now(p[0], &c, 1, eml_deadline_in_ms(1000), &got));
	assert_int_equal(c, 'z');
	assert_eml_ok(eml_io_set_nonblock(p[1], 1));
	while (write(p[1], "f", 1) == 1)
		;
	assert_eml_ok(eml_io_set_nonblock(p[1], 0));
	/* a full blocking pipe: a timeout, not a hang */
	assert_eml(eml_io_write_full(p[1], "x", 1, eml_deadline_in_ms(50)), EML_ERR_IO_TIMEOUT);
	close(p[0]);
	close(p[1]);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(deadline_arithmetic),
		cmocka_unit_test(read_full_reports_partial),
		cmocka_unit_test(timeout_reports_partial),
		cmocka_unit_test(bad_descriptors),
		cmocka_unit_test(flags),
		cmocka_unit_test(first_try_keeps_deadlines),
	};

	if (eml_mem_init() != EML_OK)
		return 1;
	return cmocka_run_group_tests_name("io", tests, NULL, NULL);
}
