/*
 * The pieces of a seccomp filter (classic BPF) that the agent and the
 * proxy share: the architecture they are built for, the statements that
 * open every filter (architecture check, x32 calls refused), the ALLOW /
 * KILL entries, the groups of calls both processes need, and one
 * function that installs a finished filter. Each process keeps its own
 * allow-list (enclave-agent/eml_agent_seccomp.c, host-proxy/eml_seccomp.c)
 * built from these; a call one process alone needs goes in its own list,
 * not in a group here (a group changes both filters).
 *
 * No filter in sanitizer builds (their runtimes make calls of their own)
 * or on an architecture without an audit number here: EML_BPF_USABLE is
 * then undefined and eml_seccomp_bpf_supported() false.
 */
#ifndef EML_SECCOMP_BPF_H
#define EML_SECCOMP_BPF_H

#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/syscall.h>

#include "eml_err.h"

#if defined(__x86_64__)
#define EML_BPF_AUDIT_ARCH AUDIT_ARCH_X86_64
#elif defined(__aarch64__)
#define EML_BPF_AUDIT_ARCH AUDIT_ARCH_AARCH64
#endif

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define EML_BPF_SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define EML_BPF_SANITIZED 1
#endif
#endif

#if defined(EML_BPF_AUDIT_ARCH) && !defined(EML_BPF_SANITIZED)
#define EML_BPF_USABLE 1
#endif

#define EML_BPF_LOAD_NR BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr))
/* The low 32 bits of args[0] (little endian on both architectures). */
#define EML_BPF_LOAD_ARG0_LO                                                   \
	BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, args))
#define EML_BPF_ALLOW(name)                                                    \
	BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_##name, 0, 1),                \
	    BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW)
#define EML_BPF_KILL BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_KILL_PROCESS)

/* Every filter starts so: another architecture kills, then the call
 * number is loaded; on x86-64, x32 ABI calls (that bit set) kill too. */
#if defined(__x86_64__)
#define EML_BPF_PROLOGUE_X32_                                                  \
	, BPF_JUMP(BPF_JMP | BPF_JGE | BPF_K, 0x40000000u, 0, 1), EML_BPF_KILL
#else
#define EML_BPF_PROLOGUE_X32_
#endif
#define EML_BPF_PROLOGUE                                                       \
	BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch)),   \
	    BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, EML_BPF_AUDIT_ARCH, 1, 0),         \
	    EML_BPF_KILL, EML_BPF_LOAD_NR EML_BPF_PROLOGUE_X32_

/* Calls only some architectures have (each with its trailing comma). */
#ifdef __NR_poll
#define EML_BPF_ALLOW_POLL_ EML_BPF_ALLOW(poll),
#else
#define EML_BPF_ALLOW_POLL_
#endif
#ifdef __NR_rseq
#define EML_BPF_ALLOW_RSEQ_ EML_BPF_ALLOW(rseq),
#else
#define EML_BPF_ALLOW_RSEQ_
#endif
#ifdef __NR_clone3
#define EML_BPF_ALLOW_CLONE3_ EML_BPF_ALLOW(clone3),
#else
#define EML_BPF_ALLOW_CLONE3_
#endif

/* I/O on descriptors the process holds (its listeners, their connections,
 * stderr for the logs), accepting on a listener, waiting on them. */
#define EML_BPF_ALLOW_HELD_IO                                                  \
	EML_BPF_ALLOW(read), EML_BPF_ALLOW(readv), EML_BPF_ALLOW(write),           \
	    EML_BPF_ALLOW(writev), EML_BPF_ALLOW(close), EML_BPF_ALLOW(fstat),     \
	    EML_BPF_ALLOW(newfstatat), EML_BPF_ALLOW(fcntl), EML_BPF_ALLOW(accept), \
	    EML_BPF_ALLOW(accept4), EML_BPF_ALLOW(sendto), EML_BPF_ALLOW(sendmsg), \
	    EML_BPF_ALLOW(recvfrom), EML_BPF_ALLOW(recvmsg), EML_BPF_ALLOW(shutdown), \
	    EML_BPF_ALLOW(setsockopt), EML_BPF_ALLOW(getsockopt),                  \
	    EML_BPF_ALLOW(getsockname), EML_BPF_ALLOW(getpeername),                \
	    EML_BPF_ALLOW_POLL_ EML_BPF_ALLOW(ppoll)

/* Memory (arenas mapped, locked, protected, wiped), threads, time,
 * randomness, signals, abort() (tgkill). */
#define EML_BPF_ALLOW_RUNTIME                                                  \
	EML_BPF_ALLOW(mmap), EML_BPF_ALLOW(munmap), EML_BPF_ALLOW(mprotect),       \
	    EML_BPF_ALLOW(madvise), EML_BPF_ALLOW(mremap), EML_BPF_ALLOW(brk),     \
	    EML_BPF_ALLOW(mlock), EML_BPF_ALLOW(munlock), EML_BPF_ALLOW(futex),    \
	    EML_BPF_ALLOW(set_robust_list), EML_BPF_ALLOW_RSEQ_ EML_BPF_ALLOW(clone), \
	    EML_BPF_ALLOW_CLONE3_ EML_BPF_ALLOW(exit), EML_BPF_ALLOW(exit_group),  \
	    EML_BPF_ALLOW(sched_yield), EML_BPF_ALLOW(sched_getaffinity),          \
	    EML_BPF_ALLOW(restart_syscall), EML_BPF_ALLOW(clock_gettime),          \
	    EML_BPF_ALLOW(clock_nanosleep), EML_BPF_ALLOW(nanosleep),              \
	    EML_BPF_ALLOW(gettimeofday), EML_BPF_ALLOW(getrandom),                 \
	    EML_BPF_ALLOW(getpid), EML_BPF_ALLOW(gettid),                          \
	    EML_BPF_ALLOW(rt_sigprocmask), EML_BPF_ALLOW(rt_sigaction),            \
	    EML_BPF_ALLOW(rt_sigreturn), EML_BPF_ALLOW(tgkill)

/* Whether this build installs filters (EML_BPF_USABLE). */
bool eml_seccomp_bpf_supported(void);

/*
 * Set no_new_privs (a filter needs it without privileges; a no-op when
 * already set) and install filter[0..len) on the calling thread, inherited
 * by the threads it creates afterwards. EML_OK, EML_ERR_PRIVDROP (the
 * kernel refused), EML_ERR_UNSUPPORTED (see above).
 */
eml_err eml_seccomp_bpf_install(const struct sock_filter *filter, size_t len) EML_MUST_USE;

#endif
