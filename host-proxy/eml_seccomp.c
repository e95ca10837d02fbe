#include "eml_seccomp.h"

#include <sys/prctl.h>
#include <sys/socket.h>

#include "eml_seccomp_bpf.h"

#ifndef AF_VSOCK
#define AF_VSOCK 40
#endif

bool
eml_seccomp_supported(void)
{
	return eml_seccomp_bpf_supported();
}

#ifdef EML_BPF_USABLE

/* A family no kernel has: the socket(2) test for AF_UNIX is patched to it
 * when no agent is reached by a unix: path. */
#define NO_FAMILY 0xffffffffu

static const struct sock_filter filter[] = {
	EML_BPF_PROLOGUE,
	/* socket: agent link families only */
	BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_socket, 0, 5),
	EML_BPF_LOAD_ARG0_LO,
	BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, AF_UNIX, 2, 0),
	BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, AF_VSOCK, 1, 0),
	EML_BPF_KILL,
	BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
	/* prctl: naming a thread only (the job API's HTTP server does) */
	BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_prctl, 0, 4),
	EML_BPF_LOAD_ARG0_LO,
	BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, PR_SET_NAME, 1, 0),
	EML_BPF_KILL,
	BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
	/* descriptors we hold, sockets: reading, writing, accepting, waiting */
	EML_BPF_ALLOW_HELD_IO,
	EML_BPF_ALLOW(pread64),
	EML_BPF_ALLOW(sendfile), /* blob bytes from the store to the agent socket */
	/* large frame bodies: socket -> pipe -> socket, a pipe per direction */
	EML_BPF_ALLOW(pipe2),
	EML_BPF_ALLOW(splice),
#ifdef __NR_statx
	EML_BPF_ALLOW(statx),
#endif
	EML_BPF_ALLOW(lseek),
	EML_BPF_ALLOW(openat), /* blobs, by name, inside the store (dirfd) */
	EML_BPF_ALLOW(getdents64), /* /status lists the store's blobs */
	EML_BPF_ALLOW(fsync),
	EML_BPF_ALLOW(fdatasync),
	EML_BPF_ALLOW(ftruncate), /* audit log: a partial line cut back (issue 18) */
	/* the job queue (SQLite WAL: writes) and its HTTP server's wake-up
	 * descriptor; ftruncate above serves SQLite too */
	EML_BPF_ALLOW(pwrite64),
	EML_BPF_ALLOW(eventfd2),
	/* the agent link (socket(2) above) */
	EML_BPF_ALLOW(connect),
	EML_BPF_ALLOW(socketpair), /* TLS clients: the pump's plaintext pair (AF_UNIX only) */
	/* libmicrohttpd's external mode waits in select (the admin thread) */
	EML_BPF_ALLOW(pselect6),
#ifdef __NR_select
	EML_BPF_ALLOW(select),
#endif
	/* memory, threads, time, signals */
	EML_BPF_ALLOW_RUNTIME,
	EML_BPF_ALLOW(getuid),
	EML_BPF_ALLOW(geteuid),
	EML_BPF_ALLOW(getgid),
	EML_BPF_ALLOW(getegid),
	EML_BPF_KILL,
};

#endif

eml_err
eml_seccomp_install(bool unix_agents)
{
#ifdef EML_BPF_USABLE
	struct sock_filter f[sizeof(filter) / sizeof(filter[0])];
	size_t n = sizeof(filter) / sizeof(filter[0]);

	/* With vsock agents only (production), no new AF_UNIX socket: the
	 * proxy cannot reach any pathname socket on the host. The first
	 * "k == AF_UNIX" test is the socket(2) family test. */
	for (size_t i = 0; i < n; i++) {
		f[i] = filter[i];
		if (!unix_agents && f[i].code == (BPF_JMP | BPF_JEQ | BPF_K) && f[i].k == AF_UNIX) {
			f[i].k = NO_FAMILY;
			unix_agents = true;
		}
	}
	return eml_seccomp_bpf_install(f, n);
#else
	(void)unix_agents;
	EML_BAIL(EML_ERR_UNSUPPORTED);
#endif
}
