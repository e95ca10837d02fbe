/*
 * Dropping privileges (STYLE §30, DESIGN §7): the proxy binds its ports
 * first, then gives up everything before it reads a client byte.
 *
 * As root: clear every capability (effective, permitted, inheritable and
 * the bounding set), switch to the target user's uid and gid with no
 * supplementary groups (libcap-ng capng_change_id), set NO_NEW_PRIVS, then
 * prove it: setuid(0) must fail and no capability may remain. A target of
 * uid 0 (an explicit `--user root`, for local simulation only) keeps uid 0
 * but still loses every capability.
 * Not root: clear whatever capabilities the process holds and set
 * NO_NEW_PRIVS; a user other than the current one cannot be reached, so
 * naming one is a configuration error.
 * Always: PR_SET_DUMPABLE 0 (no core dumps, no ptrace by the same uid).
 *
 * Call before any thread is started: set*id applies to the whole process,
 * but doing it single-threaded keeps the proof simple.
 */
#ifndef EML_PRIVDROP_H
#define EML_PRIVDROP_H

#include <stdbool.h>
#include <sys/types.h>

#include "eml_err.h"

struct eml_privdrop_result {
	bool was_root;
	uid_t uid; /* after the drop */
	gid_t gid;
};

/*
 * Drop to user (a name; NULL means "nobody" as root, "stay" otherwise), as
 * described above. Returns EML_OK, EML_ERR_CONFIG (unknown user, or a
 * different user when not root), EML_ERR_PRIVDROP (any step
 * or any check failed: the caller must exit). *res may be NULL.
 */
eml_err eml_privdrop(const char *user, struct eml_privdrop_result *res) EML_MUST_USE;

#endif
