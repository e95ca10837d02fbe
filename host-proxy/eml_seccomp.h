/*
 * The proxy's system call allowlist (STYLE §30 step 4), installed after
 * the privilege drop and before the first thread starts, so every thread
 * runs under it.
 *
 * The filter checks the architecture first (anything else, and x32
 * calls, kill the process), then allows exactly what a running proxy
 * needs: I/O on descriptors it holds, memory, threads, time, accepting on
 * its listeners, and socket(2) for AF_UNIX and AF_VSOCK only: the agent
 * link. Once running, the proxy cannot open a network connection, exec,
 * change identity or touch anything else; a call outside the list kills
 * the whole process (SIGSYS).
 *
 * Not installed in sanitizer builds (their runtimes make calls of their
 * own) and with --no-seccomp.
 */
#ifndef EML_SECCOMP_H
#define EML_SECCOMP_H

#include <stdbool.h>

#include "eml_err.h"

/* Whether this build can install the filter (known architecture, no
 * sanitizer). */
bool eml_seccomp_supported(void);

/*
 * Install the filter on the calling thread (inherited by threads created
 * afterwards; NO_NEW_PRIVS is set by the privilege drop already, and set
 * again here). unix_agents: some agent is reached by a unix: path, so
 * AF_UNIX sockets stay allowed; without it socket(AF_UNIX) kills the
 * process too. Returns EML_OK,
 * EML_ERR_UNSUPPORTED (see eml_seccomp_supported), EML_ERR_PRIVDROP (the
 * kernel refused it).
 */
eml_err eml_seccomp_install(bool unix_agents) EML_MUST_USE;

#endif
