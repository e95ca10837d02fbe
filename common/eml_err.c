#include "eml_err.h"

#include <stdarg.h>
#include <stdio.h>

static _Thread_local char where_buf[160];
static _Thread_local char detail_buf[256];

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

int
eml_err_exit_code(eml_err e)
{
	switch (eml_err_category(e)) {
	case 0:
		return 0;
	case 300: /* attestation */
	case 400: /* crypto: tampering is a verification failure */
	case 600: /* model: bad signature, tampered blob */
	case 700: /* policy */
		return 1;
	case 800:
		return 2;
	case 100:
	case 200:
		return 3;
	default:
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
