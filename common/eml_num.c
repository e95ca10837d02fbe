#include "eml_num.h"

#include <string.h>

eml_err
eml_num_u64n(const char *s, size_t n, uint64_t lo, uint64_t hi, uint64_t *out)
{
	uint64_t v = 0;

	EML_ENSURE(out != NULL, EML_ERR_NULL);
	EML_ENSURE(s != NULL && n > 0 && n <= 20, EML_ERR_USAGE);
	EML_ENSURE(n == 1 || s[0] != '0', EML_ERR_USAGE);
	for (size_t i = 0; i < n; i++) {
		uint64_t d = (uint64_t)(unsigned char)s[i] - (uint64_t)'0';

		EML_ENSURE(s[i] >= '0' && s[i] <= '9', EML_ERR_USAGE);
		EML_ENSURE(v <= (UINT64_MAX - d) / 10, EML_ERR_USAGE);
		v = v * 10 + d;
	}
	EML_ENSURE(v >= lo && v <= hi, EML_ERR_USAGE);
	*out = v;
	return EML_OK;
}

eml_err
eml_num_u64(const char *s, uint64_t lo, uint64_t hi, uint64_t *out)
{
	EML_ENSURE(s != NULL, EML_ERR_USAGE);
	return eml_num_u64n(s, strlen(s), lo, hi, out);
}
