/*
 * Fault injection for the property tests (issue 20, docs/TESTING.md).
 *
 * Each property test is shown able to fail by one deliberate fault: a named
 * point in the code that, in a fault-injection build only, misbehaves when
 * the environment variable EML_FAULT names it (a comma-separated list).
 * The build is `make prove-properties` (BUILD=build-fault, EXTRA_CFLAGS=
 * -DEML_FAULT_INJECTION); release builds compile every point to nothing:
 * EML_FAULT(name) is the constant false, the fault code sits inside
 * `#ifdef EML_FAULT_INJECTION`, and no release binary holds the string
 * "EML_FAULT" (tests/integration/properties.sh checks, scripts/lint.sh
 * refuses a source that defines EML_FAULT_INJECTION).
 */
#ifndef EML_FAULT_H
#define EML_FAULT_H

#include <stdbool.h>
#include <stddef.h>

#ifdef EML_FAULT_INJECTION
/* True when EML_FAULT names this point. */
bool eml_fault(const char *name);
/* Lower-case hex of the first n bytes of p into dst (cap bytes, NUL
 * terminated): what a careless log line would print. */
const char *eml_fault_hex(char *dst, size_t cap, const void *p, size_t n);
/* Property 14's fault: a file the agent opens before its seccomp filter
 * (main.c) and writes every output into (eml_agent_session.c). */
extern int eml_fault_fd;
#define EML_FAULT(name) eml_fault(name)
#else
#define EML_FAULT(name) false
#endif

#endif
