#include "eml_agent_seccomp.h"

#include <errno.h>

#include "eml_seccomp_bpf.h"

bool
eml_agent_seccomp_supported(void)
{
	return eml_seccomp_bpf_supported();
}

#ifdef EML_BPF_USABLE

/* Not in the list, on purpose (they kill): socket, connect, bind, listen
 * (no new sockets), execve/execveat, fork/vfork (threads only: clone is
 * allowed for them), ptrace, mount, kill of other processes.
 * open/openat fail with EACCES instead of killing: glibc's malloc reads
 * /proc/sys/vm/overcommit_memory the first time a thread's heap shrinks,
 * and copes with the refusal; no file is ever opened either way. */
#define DENY_EACCES(name)                                                      \
	BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_##name, 0, 1),                \
	    BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | (EACCES & SECCOMP_RET_DATA))

static const struct sock_filter filter[] = {
	EML_BPF_PROLOGUE,
	DENY_EACCES(openat),
#ifdef __NR_open
	DENY_EACCES(open),
#endif
	/* the listening socket, its connections, stderr (logs) */
	EML_BPF_ALLOW_HELD_IO,
	/* /dev/nsm (opened at start-up): the attestation requests */
	EML_BPF_ALLOW(ioctl),
	/* the Unix socket path is removed at a clean stop */
	EML_BPF_ALLOW(unlinkat),
#ifdef __NR_unlink
	EML_BPF_ALLOW(unlink),
#endif
	/* memory, threads (sessions, the engine's pool), time, randomness,
	 * signals */
	EML_BPF_ALLOW_RUNTIME,
	EML_BPF_ALLOW(sigaltstack),
	EML_BPF_KILL,
};

#endif

eml_err
eml_agent_seccomp_install(void)
{
#ifdef EML_BPF_USABLE
	return eml_seccomp_bpf_install(filter, sizeof(filter) / sizeof(filter[0]));
#else
	EML_BAIL(EML_ERR_UNSUPPORTED);
#endif
}
