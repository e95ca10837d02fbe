/*
 * Landlock for the proxy (issue 11): the seccomp filter cannot look at
 * paths, so after start-up the kernel's Landlock LSM confines what the
 * proxy may still open: the weight store (read), the directories of the
 * audit log and of the SQLite job queue (read, write, create, remove:
 * the audit repair writes a side file, SQLite its journal), the directory
 * of the API key file (read: reloads), and /proc/sys/vm/overcommit_memory
 * (glibc's malloc reads it from new threads). Everything else is refused
 * by the kernel (EACCES), the store's blobs are opened relative to its
 * directory fd with O_NOFOLLOW (host-proxy/eml_store.c). With ABI 4 and
 * later, TCP binds are refused and TCP connects allowed only to the Redis
 * job queue's port; with ABI 6, abstract Unix sockets and signals outside
 * the domain are refused too (pathname Unix sockets and vsock are not
 * covered by Landlock: the agents are reached over them).
 *
 * Probed with landlock_create_ruleset(NULL, 0, VERSION): a kernel without
 * Landlock leaves the proxy as it was, and the start log and /status say
 * which ("landlock": ABI, 0 = not available).
 */
#ifndef EML_LANDLOCK_H
#define EML_LANDLOCK_H

#include <stddef.h>

#include "eml_err.h"

#define EML_LANDLOCK_MAX_PATHS 8

struct eml_landlock_rules {
	const char *read_dirs[EML_LANDLOCK_MAX_PATHS]; /* read files, list */
	size_t n_read;
	const char *write_dirs[EML_LANDLOCK_MAX_PATHS]; /* and write, create, remove */
	size_t n_write;
	const char *read_files[EML_LANDLOCK_MAX_PATHS]; /* one file each */
	size_t n_files;
	int tcp_connect_port; /* the one TCP port connects may reach; -1: none */
};

/* The Landlock ABI this kernel offers, 0 when none. */
int eml_landlock_abi(void);

/*
 * Restrict the calling process (all its threads started later, and the
 * caller) to rules. NO_NEW_PRIVS must be set (the privilege drop does).
 * *abi receives the ABI enforced, 0 when the kernel has none (EML_OK,
 * nothing done). A path that does not exist is skipped (a directory the
 * proxy would create files in must exist at start). Errors:
 * EML_ERR_PRIVDROP when the kernel refuses the ruleset.
 */
eml_err eml_landlock_apply(const struct eml_landlock_rules *rules, int *abi) EML_MUST_USE;

#endif
