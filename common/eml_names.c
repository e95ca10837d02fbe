#include "eml_names.h"

#include <stdint.h>
#include <string.h>

#include "eml_mem.h"

static size_t
hash(const char *s)
{
	uint64_t h = 1469598103934665603ULL;

	for (; *s != '\0'; s++) {
		h ^= (uint8_t)*s;
		h *= 1099511628211ULL;
	}
	return (size_t)h;
}

eml_err
eml_names_init(struct eml_names *m, size_t n)
{
	size_t cap = 16;

	EML_ENSURE_REF(m);
	memset(m, 0, sizeof(*m));
	/* Load factor at most 1/2. */
	while (cap / 2 < n) {
		EML_ENSURE(cap < ((size_t)1 << 40), EML_ERR_OVERFLOW);
		cap *= 2;
	}
	m->keys = eml_calloc(cap, sizeof(*m->keys));
	m->vals = eml_calloc(cap, sizeof(*m->vals));
	if (m->keys == NULL || m->vals == NULL) {
		eml_names_free(m);
		EML_BAIL(EML_ERR_NOMEM);
	}
	m->cap = cap;
	return EML_OK;
}

void
eml_names_free(struct eml_names *m)
{
	if (m == NULL)
		return;
	eml_free(m->keys);
	eml_free(m->vals);
	memset(m, 0, sizeof(*m));
}

eml_err
eml_names_put(struct eml_names *m, const char *key, size_t val, size_t *old)
{
	size_t i;

	EML_ENSURE(m != NULL && key != NULL && m->cap != 0, EML_ERR_NULL);
	EML_ENSURE(m->n + 1 <= m->cap / 2, EML_ERR_OVERFLOW);
	for (i = hash(key) & (m->cap - 1); m->keys[i] != NULL; i = (i + 1) & (m->cap - 1)) {
		if (strcmp(m->keys[i], key) == 0) {
			if (old != NULL)
				*old = m->vals[i];
			EML_BAIL(EML_ERR_INTERNAL);
		}
	}
	m->keys[i] = key;
	m->vals[i] = val;
	m->n++;
	return EML_OK;
}

int
eml_names_get(const struct eml_names *m, const char *key, size_t *val)
{
	if (m == NULL || key == NULL || m->cap == 0)
		return 0;
	for (size_t i = hash(key) & (m->cap - 1); m->keys[i] != NULL;
	     i = (i + 1) & (m->cap - 1)) {
		if (strcmp(m->keys[i], key) == 0) {
			if (val != NULL)
				*val = m->vals[i];
			return 1;
		}
	}
	return 0;
}
