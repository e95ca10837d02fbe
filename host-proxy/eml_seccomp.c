#include "eml_seccomp.h"

#include <errno.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>

#ifndef AF_VSOCK
#define AF_VSOCK 40
#endif

#if defined(__x86_64__)
#define EML_AUDIT_ARCH AUDIT_ARCH_X86_64
#elif defined(__aarch64__)
#define EML_AUDIT_ARCH AUDIT_ARCH_AARCH64
#endif

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define EML_SECCOMP_SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define EML_SECCOMP_SANITIZED 1
#endif
#endif

bool
eml_seccomp_supported(void)
{
#if defined(EML_AUDIT_ARCH) && !defined(EML_SECCOMP_SANITIZED)
	return true;
#else
	return false;
#endif
}

#if defined(EML_AUDIT_ARCH) && !defined(EML_SECCOMP_SANITIZED)

#define LOAD_NR BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr))
#define ALLOW(name)                                                            \
	BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_##name, 0, 1),                \
	    BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW)
#define KILL BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_KILL_PROCESS)

/* socket(domain, ...): domain is the low 32 bits of args[0] (little
 * endian on both supported architectures). */
#define ARG0_LO (offsetof(struct seccomp_data, args))

/* A family no kernel has: the socket(2) test for AF_UNIX is patched to it
 * when no agent is reached by a unix: path. */
#define NO_FAMILY 0xffffffffu

static const struct sock_filter filter[] = {
	BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch)),
	BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, EML_AUDIT_ARCH, 1, 0),
	KILL,
	LOAD_NR,
#if defined(__x86_64__)
	/* x32 ABI calls carry this bit: not ours */
	BPF_JUMP(BPF_JMP | BPF_JGE | BPF_K, 0x40000000u, 0, 1),
	KILL,
#endif
	/* socket: agent link families only */
	BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_socket, 0, 5),
	BPF_STMT(BPF_LD | BPF_W | BPF_ABS, ARG0_LO),
	BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, AF_UNIX, 2, 0),
	BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, AF_VSOCK, 1, 0),
	KILL,
	BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
	/* prctl: naming a thread only (the job API's HTTP server does) */
	BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_prctl, 0, 4),
	BPF_STMT(BPF_LD | BPF_W | BPF_ABS, ARG0_LO),
	BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, PR_SET_NAME, 1, 0),
	KILL,
	BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
	/* descriptors we hold */
	ALLOW(read),
	ALLOW(readv),
	ALLOW(write),
	ALLOW(writev),
	ALLOW(pread64),
	ALLOW(close),
	ALLOW(fstat),
	ALLOW(newfstatat),
#ifdef __NR_statx
	ALLOW(statx),
#endif
	ALLOW(lseek),
	ALLOW(openat), /* blobs, by name, inside the store (dirfd) */
	ALLOW(getdents64), /* /status lists the store's blobs */
	ALLOW(fcntl),
	ALLOW(fsync),
	ALLOW(fdatasync),
	ALLOW(ftruncate), /* audit log: a partial line cut back (issue 18) */
	/* the job queue (SQLite WAL: writes) and its HTTP server's wake-up
	 * descriptor; ftruncate above serves SQLite too */
	ALLOW(pwrite64),
	ALLOW(eventfd2),
	/* sockets */
	ALLOW(connect),
	ALLOW(accept),
	ALLOW(accept4),
	ALLOW(sendto),
	ALLOW(sendmsg),
	ALLOW(recvfrom),
	ALLOW(recvmsg),
	ALLOW(shutdown),
	ALLOW(socketpair), /* TLS clients: the pump's plaintext pair (AF_UNIX only) */
	ALLOW(setsockopt),
	ALLOW(getsockopt),
	ALLOW(getsockname),
	ALLOW(getpeername),
#ifdef __NR_poll
	ALLOW(poll),
#endif
	ALLOW(ppoll),
	/* libmicrohttpd's external mode waits in select (the admin thread) */
	ALLOW(pselect6),
#ifdef __NR_select
	ALLOW(select),
#endif
	/* memory */
	ALLOW(mmap),
	ALLOW(munmap),
	ALLOW(mprotect),
	ALLOW(madvise),
	ALLOW(mremap),
	ALLOW(brk),
	ALLOW(mlock),
	ALLOW(munlock),
	/* threads, time, signals */
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
	ALLOW(getuid),
	ALLOW(geteuid),
	ALLOW(getgid),
	ALLOW(getegid),
	ALLOW(rt_sigprocmask),
	ALLOW(rt_sigaction),
	ALLOW(rt_sigreturn),
	ALLOW(tgkill), /* abort() */
	KILL,
};

eml_err
eml_seccomp_install(bool unix_agents)
{
	struct sock_filter f[sizeof(filter) / sizeof(filter[0])];
	struct sock_fprog prog = {
		.len = (unsigned short)(sizeof(filter) / sizeof(filter[0])),
		.filter = f,
	};

	/* With vsock agents only (production), no new AF_UNIX socket: the
	 * proxy cannot reach any pathname socket on the host. The first
	 * "k == AF_UNIX" test is the socket(2) family test. */
	for (size_t i = 0; i < prog.len; i++) {
		f[i] = filter[i];
		if (!unix_agents && f[i].code == (BPF_JMP | BPF_JEQ | BPF_K) && f[i].k == AF_UNIX) {
			f[i].k = NO_FAMILY;
			unix_agents = true;
		}
	}
	if (prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog, 0, 0) != 0) {
		eml_err_set_detail("seccomp: %s", strerror(errno));
		EML_BAIL(EML_ERR_PRIVDROP);
	}
	return EML_OK;
}

#else

eml_err
eml_seccomp_install(bool unix_agents)
{
	(void)unix_agents;
	EML_BAIL(EML_ERR_UNSUPPORTED);
}

#endif
