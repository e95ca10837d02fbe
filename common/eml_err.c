#include "eml_err.h"

#include <stdarg.h>
#include <stdio.h>

static _Thread_local char where_buf[EML_ERR_WHERE_MAX];
static _Thread_local char detail_buf[EML_ERR_DETAIL_MAX];

const char *
eml_strerror(eml_err e)
{
	switch (e) {
#define EML_ERR(name, num, msg)                                                \
	case name:                                                             \
		return msg;
#include "eml_err.def"
#undef EML_ERR
	}
	return "unknown error";
}

const char *
eml_err_name(eml_err e)
{
	switch (e) {
#define EML_ERR(name, num, msg)                                                \
	case name:                                                             \
		return #name;
#include "eml_err.def"
#undef EML_ERR
	}
	return "EML_ERR_UNKNOWN";
}

int
eml_err_category(eml_err e)
{
	int n = (int)e;

	if (n < 0 || n > 999)
		return 900;
	return (n / 100) * 100;
}

/*
 * The exit-code contract of eml, eml-proxy and eml-agent (docs/CLI.md):
 * every command maps its error through here and nowhere else.
 *   0 success
 *   1 the data was checked and refused: a document, signature, blob,
 *     evidence or audit chain that does not verify, a policy that says
 *     no, and a model or input the engine or the importer refuses (the
 *     same as a tampered blob: running again will not help, other bytes
 *     will)
 *   2 usage: the command line, or a policy, key or configuration file it
 *     names, is unusable as written; a file not replaced without --force
 *   3 I/O or peer: a file that cannot be read or written, a proxy or an
 *     enclave that does not answer, fails or is busy; internal errors
 */
/* Codes whose exit status is not their range's (see below). */
static const struct {
	eml_err e;
	int code;
} exit_exceptions[] = {
	{ EML_ERR_FILE_EXISTS, 2 }, { EML_ERR_POLICY_FILE, 2 }, { EML_ERR_CONFIG, 2 },
	{ EML_ERR_KEYS_FILE, 2 }, { EML_ERR_ATTEST_POLICY, 2 },
	{ EML_ERR_ATTEST_SIM_CA, 3 }, { EML_ERR_ATTEST_NSM_DEVICE, 3 },
	{ EML_ERR_ATTEST_NSM_ERROR, 3 }, { EML_ERR_CRYPTO_RANDOM, 3 }, { EML_ERR_SESSION, 3 },
	{ EML_ERR_BUSY, 3 }, { EML_ERR_SESSION_STATE, 3 }, { EML_ERR_SESSION_CLOSED, 3 },
	{ EML_ERR_SESSION_NOT_ATTESTED, 3 }, { EML_ERR_BLOB_FETCH, 3 }, { EML_ERR_NO_AGENT, 3 },
	{ EML_ERR_AGENT_LOST, 3 }, { EML_ERR_BLOB_UNKNOWN, 3 }, { EML_ERR_BLOB_RANGE, 3 },
	{ EML_ERR_PRIVDROP, 3 }, { EML_ERR_AUDIT_DOWN, 3 }, { EML_ERR_RATE_LIMITED, 3 },
	{ EML_ERR_KILL_SWITCH, 3 }, { EML_ERR_DRAIN_CUT, 3 },
	/* text that was read and refused, never an I/O failure */
	{ EML_ERR_JSON, 1 },
};

int
eml_err_exit_code(eml_err e)
{
	if (e == EML_OK)
		return 0;
	for (size_t k = 0; k < sizeof(exit_exceptions) / sizeof(exit_exceptions[0]); k++)
		if (exit_exceptions[k].e == e)
			return exit_exceptions[k].code;
	switch (eml_err_category(e)) {
	case 300: /* attestation */
	case 400: /* crypto: tampering is a verification failure */
	case 500: /* the engine refuses the model or the input */
	case 600: /* model files: bad signature, tampered blob, unsupported model */
	case 700: /* policy, egress guard, audit chain */
		return 1;
	case 800:
		return 2;
	default: /* I/O, protocol, internal */
		return 3;
	}
}

eml_err
eml_err_record(eml_err e, const char *file, int line, const char *func)
{
	if (e != EML_OK)
		(void)snprintf(where_buf, sizeof(where_buf), "%s:%d:%s", file, line, func);
	return e;
}

const char *
eml_err_where(void)
{
	return where_buf;
}

void
eml_err_set_detail(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	(void)vsnprintf(detail_buf, sizeof(detail_buf), fmt, ap);
	va_end(ap);
}

const char *
eml_err_detail(void)
{
	return detail_buf;
}

void
eml_err_clear_detail(void)
{
	detail_buf[0] = '\0';
}

eml_err
eml_err_adopt(eml_err e, const char *where, const char *detail)
{
	(void)snprintf(where_buf, sizeof(where_buf), "%s", where != NULL ? where : "");
	(void)snprintf(detail_buf, sizeof(detail_buf), "%s", detail != NULL ? detail : "");
	return e;
}
