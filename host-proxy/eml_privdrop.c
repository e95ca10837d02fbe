#include "eml_privdrop.h"

#include <cap-ng.h>
#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>

#include "eml_log.h"

static eml_err
lookup(const char *user, uid_t *uid, gid_t *gid)
{
	struct passwd pw, *found = NULL;
	char buf[4096];
	int e;

	e = getpwnam_r(user, &pw, buf, sizeof(buf), &found);
	if (e != 0 || found == NULL) {
		eml_err_set_detail("unknown user '%s'", user);
		EML_BAIL(EML_ERR_CONFIG);
	}
	*uid = pw.pw_uid;
	*gid = pw.pw_gid;
	return EML_OK;
}

static eml_err
drop_as_root(const char *user, struct eml_privdrop_result *res)
{
	uid_t uid;
	gid_t gid;

	EML_GUARD(lookup(user, &uid, &gid));
	capng_clear(CAPNG_SELECT_BOTH);
	if (uid == 0) {
		/* Local simulation only: stay uid 0 without any capability. */
		if (capng_apply(CAPNG_SELECT_BOTH) != 0) {
			eml_err_set_detail("capng_apply failed");
			EML_BAIL(EML_ERR_PRIVDROP);
		}
	} else if (capng_change_id((int)uid, (int)gid,
		       CAPNG_DROP_SUPP_GRP | CAPNG_CLEAR_BOUNDING) != 0) {
		eml_err_set_detail("capng_change_id(%u, %u) failed", (unsigned)uid, (unsigned)gid);
		EML_BAIL(EML_ERR_PRIVDROP);
	}
	res->uid = getuid();
	res->gid = getgid();
	return EML_OK;
}

/* The proof of STYLE §30 step 5. */
static eml_err
verify(const struct eml_privdrop_result *res)
{
	if (prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0) != 1) {
		eml_err_set_detail("NO_NEW_PRIVS is not set");
		EML_BAIL(EML_ERR_PRIVDROP);
	}
	if (prctl(PR_GET_DUMPABLE, 0, 0, 0, 0) != 0) {
		eml_err_set_detail("process is still dumpable");
		EML_BAIL(EML_ERR_PRIVDROP);
	}
	capng_get_caps_process();
	if (capng_have_capabilities(CAPNG_SELECT_CAPS) != CAPNG_NONE) {
		eml_err_set_detail("capabilities remain after the drop");
		EML_BAIL(EML_ERR_PRIVDROP);
	}
	if (res->was_root && res->uid != 0) {
		uid_t e = geteuid();

		if (setuid(0) != -1 || getuid() == 0 || e == 0) {
			eml_err_set_detail("was able to regain uid 0");
			EML_BAIL(EML_ERR_PRIVDROP);
		}
		if (setgid(0) != -1 || getgid() == 0 || getegid() == 0) {
			eml_err_set_detail("was able to regain gid 0");
			EML_BAIL(EML_ERR_PRIVDROP);
		}
	}
	return EML_OK;
}

eml_err
eml_privdrop(const char *user, struct eml_privdrop_result *out)
{
	struct eml_privdrop_result res = { false, 0, 0 };
	bool user_given = user != NULL;

	if (user == NULL)
		user = "nobody";
	if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0) {
		eml_err_set_detail("PR_SET_DUMPABLE: %s", strerror(errno));
		EML_BAIL(EML_ERR_PRIVDROP);
	}
	res.was_root = geteuid() == 0;
	if (res.was_root) {
		EML_GUARD(drop_as_root(user, &res));
	} else {
		if (user_given) {
			uid_t uid;
			gid_t gid;

			EML_GUARD(lookup(user, &uid, &gid));
			if (uid != getuid()) {
				eml_err_set_detail("switching to user '%s' needs starting as root",
				    user);
				EML_BAIL(EML_ERR_CONFIG);
			}
		}
		/* Not root: nothing to switch to; shed any capability we
		 * were given (file caps, ambient), bounding set included
		 * when we are allowed to touch it. */
		capng_clear(CAPNG_SELECT_BOTH);
		if (capng_apply(CAPNG_SELECT_CAPS) != 0) {
			eml_err_set_detail("capng_apply failed");
			EML_BAIL(EML_ERR_PRIVDROP);
		}
		res.uid = getuid();
		res.gid = getgid();
	}
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) {
		eml_err_set_detail("PR_SET_NO_NEW_PRIVS: %s", strerror(errno));
		EML_BAIL(EML_ERR_PRIVDROP);
	}
	EML_GUARD(verify(&res));
	if (res.was_root && res.uid == 0)
		EML_LOG_WARN("privdrop.still_uid0", NULL,
		    EML_F_STR("note", "running as uid 0 with no capabilities (user root, "
				      "given or chosen when nobody cannot reach the files); "
				      "for local simulation only"));
	EML_LOG_INFO("privdrop.done", NULL, EML_F_U64("uid", res.uid), EML_F_U64("gid", res.gid),
	    EML_F_BOOL("was_root", res.was_root));
	if (out != NULL)
		*out = res;
	return EML_OK;
}
