/*
 * The agent's seccomp allow-list, installed once it is listening (and its
 * attestation producer, policy and keys are loaded): from then on it
 * needs no files, no new sockets and no exec. Every system call outside
 * the list kills the process (SECCOMP_RET_KILL_PROCESS, SIGSYS), except
 * open/openat, which fail with EACCES (glibc's malloc may try to read a
 * /proc file from a new thread and copes with the refusal).
 * Not installed in sanitizer builds (their runtimes make calls of their
 * own) or on architectures without a filter here.
 */
#ifndef EML_AGENT_SECCOMP_H
#define EML_AGENT_SECCOMP_H

#include <stdbool.h>

#include "eml_err.h"

bool eml_agent_seccomp_supported(void);
/* EML_OK, EML_ERR_PRIVDROP (prctl refused), EML_ERR_UNSUPPORTED. */
eml_err eml_agent_seccomp_install(void) EML_MUST_USE;

#endif
