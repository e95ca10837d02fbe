/* eml-proxy privilege drop: each case runs in a forked child, which
 * reports through its exit status. Root-only cases skip when not root. */
#include "eml_test.h"

#include <cap-ng.h>
#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "eml_log.h"
#include "host-proxy/eml_privdrop.h"

static char secret_path[64];

/* Run fn in a child; return its exit status (or 100 + signal). */
static int
in_child(int (*fn)(void))
{
	pid_t pid = fork();
	int st = 0;

	assert_true(pid >= 0);
	if (pid == 0)
		_exit(fn());
	assert_int_equal(waitpid(pid, &st, 0), pid);
	if (WIFSIGNALED(st))
		return 100 + WTERMSIG(st);
	return WEXITSTATUS(st);
}

static int
child_drop_to_nobody(void)
{
	struct eml_privdrop_result r;
	struct passwd *pw = getpwnam("nobody");

	if (pw == NULL)
		return 90;
	if (eml_privdrop("nobody", &r) != EML_OK)
		return 1;
	if (!r.was_root || r.uid != pw->pw_uid || getuid() != pw->pw_uid ||
	    geteuid() != pw->pw_uid || getgid() != pw->pw_gid)
		return 2;
	/* independent checks of what eml_privdrop claims to have verified */
	if (setuid(0) == 0 || seteuid(0) == 0)
		return 3;
	if (prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0) != 1)
		return 4;
	if (prctl(PR_GET_DUMPABLE, 0, 0, 0, 0) != 0)
		return 5;
	if (getgroups(0, NULL) != 0)
		return 6;
	/* a root-only file is out of reach */
	if (open(secret_path, O_RDONLY) >= 0 || errno != EACCES)
		return 7;
	capng_get_caps_process();
	if (capng_have_capabilities(CAPNG_SELECT_BOTH) != CAPNG_NONE)
		return 8;
	return 0;
}

static int
child_stay_root_without_caps(void)
{
	struct eml_privdrop_result r;

	if (eml_privdrop("root", &r) != EML_OK)
		return 1;
	if (getuid() != 0 || r.uid != 0)
		return 2;
	capng_get_caps_process();
	if (capng_have_capabilities(CAPNG_SELECT_CAPS) != CAPNG_NONE)
		return 3;
	/* uid 0 without CAP_DAC_OVERRIDE cannot read another user's 0600 file */
	if (open(secret_path, O_RDONLY) >= 0 || errno != EACCES)
		return 4;
	if (prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0) != 1)
		return 5;
	return 0;
}

static int
child_unknown_user(void)
{
	return eml_privdrop("no-such-user-eml", NULL) == EML_ERR_CONFIG ? 0 : 1;
}

/* No user named: as root the drop goes to nobody, otherwise the process
 * stays who it is; either way no new privileges and not dumpable. */
static int
child_default_user(void)
{
	struct eml_privdrop_result r;
	uid_t before = getuid();
	struct passwd *pw = getpwnam("nobody");

	if (eml_privdrop(NULL, &r) != EML_OK)
		return 1;
	if (prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0) != 1 || prctl(PR_GET_DUMPABLE, 0, 0, 0, 0) != 0)
		return 2;
	if (before == 0) {
		if (pw == NULL || !r.was_root || r.uid != pw->pw_uid || getuid() != pw->pw_uid ||
		    geteuid() != pw->pw_uid)
			return 3;
	} else if (r.was_root || r.uid != before || getuid() != before || geteuid() != before) {
		return 4;
	}
	return 0;
}

/* Not root: naming another user is an error, naming oneself is fine. */
static int
child_not_root_other_user(void)
{
	struct passwd *me = getpwuid(getuid());
	char self[64];

	if (me == NULL)
		return 90;
	(void)snprintf(self, sizeof(self), "%s", me->pw_name);
	if (eml_privdrop("root", NULL) != EML_ERR_CONFIG)
		return 1;
	if (eml_privdrop(self, NULL) != EML_OK)
		return 2;
	return 0;
}

static void
not_root_cannot_switch(void **state)
{
	(void)state;
	if (geteuid() == 0)
		skip();
	assert_int_equal(in_child(child_not_root_other_user), 0);
}

static void
drop_to_nobody(void **state)
{
	int fd;

	(void)state;
	if (geteuid() != 0)
		skip();
	(void)snprintf(secret_path, sizeof(secret_path), "/tmp/eml-priv-XXXXXX");
	fd = mkstemp(secret_path);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "s", 1), 1);
	assert_int_equal(fchmod(fd, 0600), 0);
	(void)close(fd);
	assert_int_equal(in_child(child_drop_to_nobody), 0);
	(void)unlink(secret_path);
}

static void
stay_root_without_caps(void **state)
{
	struct passwd *pw = getpwnam("nobody");
	int fd;

	(void)state;
	if (geteuid() != 0 || pw == NULL)
		skip();
	(void)snprintf(secret_path, sizeof(secret_path), "/tmp/eml-priv-XXXXXX");
	fd = mkstemp(secret_path);
	assert_true(fd >= 0);
	assert_int_equal(fchown(fd, pw->pw_uid, pw->pw_gid), 0);
	assert_int_equal(fchmod(fd, 0600), 0);
	(void)close(fd);
	assert_int_equal(in_child(child_stay_root_without_caps), 0);
	(void)unlink(secret_path);
}

static void
unknown_user(void **state)
{
	(void)state;
	if (geteuid() != 0)
		skip();
	assert_int_equal(in_child(child_unknown_user), 0);
}

/* Runs as whoever runs the tests: as root it is the nobody drop again
 * (default user), otherwise the non-root path. */
static void
default_user(void **state)
{
	(void)state;
	assert_int_equal(in_child(child_default_user), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(drop_to_nobody),
		cmocka_unit_test(stay_root_without_caps),
		cmocka_unit_test(unknown_user),
		cmocka_unit_test(default_user),
		cmocka_unit_test(not_root_cannot_switch),
	};

	eml_log_set_level(EML_LOG_LEVEL_OFF);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
