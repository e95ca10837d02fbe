#include "eml_landlock.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

/* The kernel ABI (include/uapi/linux/landlock.h), spelled out here so the
 * build does not depend on how new the installed headers are. */
#ifndef SYS_landlock_create_ruleset
#define SYS_landlock_create_ruleset 444
#endif
#ifndef SYS_landlock_add_rule
#define SYS_landlock_add_rule 445
#endif
#ifndef SYS_landlock_restrict_self
#define SYS_landlock_restrict_self 446
#endif

#define LL_CREATE_RULESET_VERSION (1u << 0)
#define LL_RULE_PATH_BENEATH 1
#define LL_RULE_NET_PORT 2

#define LL_FS_EXECUTE (1ull << 0)
#define LL_FS_WRITE_FILE (1ull << 1)
#define LL_FS_READ_FILE (1ull << 2)
#define LL_FS_READ_DIR (1ull << 3)
#define LL_FS_REMOVE_DIR (1ull << 4)
#define LL_FS_REMOVE_FILE (1ull << 5)
#define LL_FS_MAKE_CHAR (1ull << 6)
#define LL_FS_MAKE_DIR (1ull << 7)
#define LL_FS_MAKE_REG (1ull << 8)
#define LL_FS_MAKE_SOCK (1ull << 9)
#define LL_FS_MAKE_FIFO (1ull << 10)
#define LL_FS_MAKE_BLOCK (1ull << 11)
#define LL_FS_MAKE_SYM (1ull << 12)
#define LL_FS_REFER (1ull << 13) /* ABI 2 */
#define LL_FS_TRUNCATE (1ull << 14) /* ABI 3 */
#define LL_FS_IOCTL_DEV (1ull << 15) /* ABI 5 */
#define LL_NET_BIND_TCP (1ull << 0) /* ABI 4 */
#define LL_NET_CONNECT_TCP (1ull << 1) /* ABI 4 */
#define LL_SCOPE_ABSTRACT_UNIX (1ull << 0) /* ABI 6 */
#define LL_SCOPE_SIGNAL (1ull << 1) /* ABI 6 */

struct ll_ruleset_attr {
	uint64_t handled_access_fs;
	uint64_t handled_access_net;
	uint64_t scoped;
};

struct ll_path_beneath_attr {
	uint64_t allowed_access;
	int32_t parent_fd;
} __attribute__((packed));

struct ll_net_port_attr {
	uint64_t allowed_access;
	uint64_t port;
};

int
eml_landlock_abi(void)
{
	long v = syscall(SYS_landlock_create_ruleset, NULL, (size_t)0, LL_CREATE_RULESET_VERSION);

	return v > 0 && v < 1000 ? (int)v : 0;
}

/* Every filesystem right this ABI knows. */
static uint64_t
fs_rights(int abi)
{
	uint64_t r = (LL_FS_MAKE_SYM << 1) - 1; /* ABI 1: bits 0..12 */

	if (abi >= 2)
		r |= LL_FS_REFER;
	if (abi >= 3)
		r |= LL_FS_TRUNCATE;
	if (abi >= 5)
		r |= LL_FS_IOCTL_DEV;
	return r;
}

/* One path_beneath rule; a path that does not exist is skipped. */
static eml_err
add_path(int ruleset, const char *path, uint64_t allowed)
{
	struct ll_path_beneath_attr pb;
	int fd;
	long r;

	fd = open(path, O_PATH | O_CLOEXEC);
	if (fd < 0)
		return EML_OK;
	memset(&pb, 0, sizeof(pb));
	pb.allowed_access = allowed;
	pb.parent_fd = fd;
	r = syscall(SYS_landlock_add_rule, ruleset, LL_RULE_PATH_BENEATH, &pb, 0u);
	(void)close(fd);
	if (r != 0) {
		eml_err_set_detail("landlock rule for %s: %s", path, strerror(errno));
		EML_BAIL(EML_ERR_PRIVDROP);
	}
	return EML_OK;
}

static eml_err
add_rules(int ruleset, const struct eml_landlock_rules *rules, int abi)
{
	uint64_t handled = fs_rights(abi);
	uint64_t rd = LL_FS_READ_FILE | LL_FS_READ_DIR;
	uint64_t wr =
	    rd | LL_FS_WRITE_FILE | LL_FS_MAKE_REG | LL_FS_REMOVE_FILE | (LL_FS_TRUNCATE & handled);
	uint64_t file = LL_FS_READ_FILE;

	for (size_t i = 0; i < rules->n_read && i < EML_LANDLOCK_MAX_PATHS; i++)
		EML_GUARD(add_path(ruleset, rules->read_dirs[i], rd));
	for (size_t i = 0; i < rules->n_write && i < EML_LANDLOCK_MAX_PATHS; i++)
		EML_GUARD(add_path(ruleset, rules->write_dirs[i], wr));
	for (size_t i = 0; i < rules->n_files && i < EML_LANDLOCK_MAX_PATHS; i++)
		EML_GUARD(add_path(ruleset, rules->read_files[i], file));
	if (abi >= 4 && rules->tcp_connect_port > 0) {
		struct ll_net_port_attr np;

		np.allowed_access = LL_NET_CONNECT_TCP;
		np.port = (uint64_t)rules->tcp_connect_port;
		if (syscall(SYS_landlock_add_rule, ruleset, LL_RULE_NET_PORT, &np, 0u) != 0) {
			eml_err_set_detail("landlock TCP port rule: %s", strerror(errno));
			EML_BAIL(EML_ERR_PRIVDROP);
		}
	}
	return EML_OK;
}

eml_err
eml_landlock_apply(const struct eml_landlock_rules *rules, int *abi)
{
	struct ll_ruleset_attr attr;
	size_t attr_len;
	int v, fd;
	eml_err rc;

	EML_ENSURE(rules != NULL && abi != NULL, EML_ERR_NULL);
	*abi = 0;
	v = eml_landlock_abi();
	if (v == 0)
		return EML_OK;
	memset(&attr, 0, sizeof(attr));
	attr.handled_access_fs = fs_rights(v);
	attr_len = sizeof(attr.handled_access_fs);
	if (v >= 4) {
		attr.handled_access_net = LL_NET_BIND_TCP | LL_NET_CONNECT_TCP;
		attr_len += sizeof(attr.handled_access_net);
	}
	if (v >= 6) {
		attr.scoped = LL_SCOPE_ABSTRACT_UNIX | LL_SCOPE_SIGNAL;
		attr_len += sizeof(attr.scoped);
	}
	fd = (int)syscall(SYS_landlock_create_ruleset, &attr, attr_len, 0u);
	if (fd < 0) {
		eml_err_set_detail("landlock_create_ruleset: %s", strerror(errno));
		EML_BAIL(EML_ERR_PRIVDROP);
	}
	rc = add_rules(fd, rules, v);
	if (rc == EML_OK && syscall(SYS_landlock_restrict_self, fd, 0u) != 0) {
		eml_err_set_detail("landlock_restrict_self: %s", strerror(errno));
		rc = eml_err_record(EML_ERR_PRIVDROP, __FILE__, __LINE__, __func__);
	}
	(void)close(fd);
	if (rc == EML_OK)
		*abi = v;
	return rc;
}
