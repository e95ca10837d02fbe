/*
 * A small string -> index map (open addressing, FNV-1a) used to resolve
 * tensor names in graphs with thousands of nodes. Keys are borrowed: the
 * strings must outlive the map.
 */
#ifndef EML_NAMES_H
#define EML_NAMES_H

#include <stddef.h>

#include "eml_err.h"

struct eml_names {
	const char **keys;
	size_t *vals;
	size_t cap; /* power of two, or 0 */
	size_t n;
};

/* Room for at least n keys. EML_ERR_NOMEM, EML_ERR_OVERFLOW. */
eml_err eml_names_init(struct eml_names *m, size_t n) EML_MUST_USE;
void eml_names_free(struct eml_names *m);
/* Insert key -> val. EML_ERR_INTERNAL when the key exists already (the
 * existing value is then in *old when old is not NULL), EML_ERR_OVERFLOW
 * when the map is full. */
eml_err eml_names_put(struct eml_names *m, const char *key, size_t val, size_t *old)
    EML_MUST_USE;
/* 1 and *val when found, 0 otherwise. */
int eml_names_get(const struct eml_names *m, const char *key, size_t *val);

#endif
