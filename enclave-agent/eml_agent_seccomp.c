#include "eml_agent_seccomp.h"

#include <errno.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>

#if defined(__x86_64__)
#define AGENT_AUDIT_ARCH AUDIT_ARCH_X86_64
#elif defined(__aarch64__)
#define AGENT_AUDIT_ARCH AUDIT_ARCH_AARCH64
#endif

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define AGENT_SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define AGENT_SANITIZED 1
#endif
#endif

bool
eml_agent_seccomp_supported(void)
{
#if defined(AGENT_AUDIT_ARCH) && !defined(AGENT_SANITIZED)
	return true;
#else
	return false;
#endif
}

#if defined(AGENT_AUDIT_ARCH) && !defined(AGENT_SANITIZED)

#define ALLOW(name)                                                            \
	BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_##name, 0, 1),                \
	    BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW)
#define KILL BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_KILL_PROCESS)

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
	BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch)),
	BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, AGENT_AUDIT_ARCH, 1, 0),
	KILL,
	BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
#if defined(__x86_64__)
	BPF_JUMP(BPF_JMP | BPF_JGE | BPF_K, 0x40000000u, 0, 1),
	KILL,
#endif
	DENY_EACCES(openat),
#ifdef __NR_open
	DENY_EACCES(open),
#endif
	/* the listening socket, its connections, stderr (logs) */
	ALLOW(read),
	ALLOW(readv),
	ALLOW(write),
	ALLOW(writev),
	ALLOW(close),
	ALLOW(fstat),
	ALLOW(newfstatat),
	ALLOW(fcntl),
	ALLOW(accept),
	ALLOW(accept4),
	ALLOW(sendto),
	ALLOW(sendmsg),
	ALLOW(recvfrom),
	ALLOW(recvmsg),
	ALLOW(shutdown),
	ALLOW(setsockopt),
	ALLOW(getsockopt),
	ALLOW(getsockname),
	ALLOW(getpeername),
#ifdef __NR_poll
	ALLOW(poll),
#endif
	ALLOW(ppoll),
	/* /dev/nsm (opened at start-up): the attestation requests */
	ALLOW(ioctl),
	/* the Unix socket path is removed at a clean stop */
	ALLOW(unlinkat),
#ifdef __NR_unlink
	ALLOW(unlink),
#endif
	/* memory: arenas are mapped, locked, protected and wiped */
	ALLOW(mmap),
	ALLOW(munmap),
	ALLOW(mprotect),
	ALLOW(madvise),
	ALLOW(mremap),
	ALLOW(brk),
	ALLOW(mlock),
	ALLOW(munlock),
	/* threads (sessions, the engine's pool), time, randomness, signals */
	ALLOW(futex),
	ALLOW(set_robust_list),
#ifdef __NR_rseq
	ALLOW(rseq),
#endif
	ALLOW(clone),
#ifdef __NR_clone3
	ALLOW(clone3),
#endif
	ALLOW(exit),
	ALLOW(exit_group),
	ALLOW(sched_yield),
	ALLOW(sched_getaffinity),
	ALLOW(restart_syscall),
	ALLOW(clock_gettime),
	ALLOW(clock_nanosleep),
	ALLOW(nanosleep),
	ALLOW(gettimeofday),
	ALLOW(getrandom),
	ALLOW(getpid),
	ALLOW(gettid),
	ALLOW(rt_sigprocmask),
	ALLOW(rt_sigaction),
	ALLOW(rt_sigreturn),
	ALLOW(sigaltstack),
	ALLOW(tgkill), /* abort() */
	KILL,
};

eml_err
eml_agent_seccomp_install(void)
{
	struct sock_fprog prog = {
		.len = (unsigned short)(sizeof(filter) / sizeof(filter[0])),
		.filter = (struct sock_filter *)(uintptr_t)filter,
	};

	/* Without privileges a filter needs no_new_privs (and it is right
	 * for the agent anyway). */
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 ||
	    prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog, 0, 0) != 0) {
		eml_err_set_detail("seccomp: %s", strerror(errno));
		EML_BAIL(EML_ERR_PRIVDROP);
	}
	return EML_OK;
}

#else

eml_err
eml_agent_seccomp_install(void)
{
	EML_BAIL(EML_ERR_UNSUPPORTED);
}

#endif
