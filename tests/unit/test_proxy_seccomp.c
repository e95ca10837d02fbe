/* eml-proxy system call allowlist: each case runs in a forked child that
 * installs the filter and then tries one thing; the exit status or the
 * killing signal tells what happened. Skips in sanitizer builds, where
 * the filter is not installed. */
#include "eml_test.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "eml_mem.h"
#include "host-proxy/eml_seccomp.h"

#ifndef AF_VSOCK
#define AF_VSOCK 40
#endif

/* Run fn under the filter in a child. Returns the exit status, or 100 +
 * the signal that killed it. */
static int
filtered_as(bool unix_agents, int (*fn)(void))
{
	pid_t pid = fork();
	int st = 0;

	assert_true(pid >= 0);
	if (pid == 0) {
		if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 || eml_seccomp_install(unix_agents) != EML_OK)
			_exit(90);
		_exit(fn());
	}
	assert_int_equal(waitpid(pid, &st, 0), pid);
	if (WIFSIGNALED(st))
		return 100 + WTERMSIG(st);
	return WEXITSTATUS(st);
}

static int
filtered(int (*fn)(void))
{
	return filtered_as(true, fn);
}

static int
do_allowed(void)
{
	int fd, u, v;
	char b[4];

	/* what a relaying proxy does (and nothing more: not even
	 * socketpair(2) is on the list) */
	fd = open("/etc/hostname", O_RDONLY | O_CLOEXEC);
	if (fd < 0 || pread(fd, b, 1, 0) < 0)
		return 3;
	u = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (u < 0)
		return 4;
	/* vsock may be missing here; the filter must let the call through */
	v = socket(AF_VSOCK, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (v < 0 && errno != EAFNOSUPPORT && errno != EINVAL)
		return 5;
	eml_free(eml_alloc(1 << 20)); /* mmap-backed */
	if (write(2, "", 0) != 0 || read(fd, b, 1) < 0)
		return 6;
	{
		/* blob bytes go to the agent by sendfile: allowed (the
		 * unconnected socket makes it fail, not the filter) */
		off_t o = 0;

		(void)sendfile(u, fd, &o, 1);
	}
	{
		/* large frame bodies go socket -> pipe -> socket by splice */
		int pp[2];

		if (pipe2(pp, O_NONBLOCK | O_CLOEXEC) != 0)
			return 7;
		(void)fcntl(pp[1], F_SETPIPE_SZ, 256 * 1024);
		if (splice(u, NULL, pp[1], NULL, 1, SPLICE_F_NONBLOCK) >= 0 || errno == ENOSYS)
			return 8;
		(void)close(pp[0]);
		(void)close(pp[1]);
	}
	(void)close(fd);
	(void)close(u);
	return 0;
}

static int
do_unix_socket(void)
{
	return socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0) >= 0 ? 0 : 1;
}

/* What a vsock-only proxy still does: vsock sockets for its agents and the
 * TLS pump's socketpair. */
static int
do_vsock_and_pair(void)
{
	int sp[2], v = socket(AF_VSOCK, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (v < 0 && errno != EAFNOSUPPORT && errno != EINVAL)
		return 1;
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp) != 0)
		return 2;
	return 0;
}

static int
do_tcp_socket(void)
{
	return socket(AF_INET, SOCK_STREAM, 0) >= 0 ? 0 : 1;
}

static int
do_udp6_socket(void)
{
	return socket(AF_INET6, SOCK_DGRAM, 0) >= 0 ? 0 : 1;
}

static int
do_exec(void)
{
	char *const argv[] = { (char *)(uintptr_t)"/bin/true", NULL };

	(void)execv("/bin/true", argv);
	return 1;
}

static int
do_setuid(void)
{
	return setuid(0) == 0 ? 0 : 1;
}

static int
do_mkdir(void)
{
	return mkdir("/tmp/eml-seccomp-should-not-exist", 0700) == 0 ? 0 : 1;
}

static void
allowlist(void **state)
{
	(void)state;
	if (!eml_seccomp_supported())
		skip();
	assert_int_equal(filtered(do_allowed), 0);
	assert_int_equal(filtered(do_tcp_socket), 100 + SIGSYS);
	assert_int_equal(filtered(do_udp6_socket), 100 + SIGSYS);
	assert_int_equal(filtered(do_exec), 100 + SIGSYS);
	assert_int_equal(filtered(do_setuid), 100 + SIGSYS);
	assert_int_equal(filtered(do_mkdir), 100 + SIGSYS);
	/* vsock agents only: no pathname socket can be reached */
	assert_int_equal(filtered_as(false, do_unix_socket), 100 + SIGSYS);
	assert_int_equal(filtered_as(false, do_vsock_and_pair), 0);
	assert_int_equal(filtered_as(true, do_unix_socket), 0);
	/* and without the filter the same calls are fine, so the kills
	 * above come from it */
	assert_int_equal(do_tcp_socket(), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(allowlist),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
