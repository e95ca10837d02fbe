/*
 * NumPy .npy files (format versions 1.0, 2.0 and 3.0) into an eml_tensor,
 * for `eml tensor make --from FILE.npy`. The bytes are untrusted: one
 * bounded cursor, a header of at most EML_NPY_HEADER_MAX bytes parsed as
 * the small Python dict NumPy writes ('descr', 'fortran_order', 'shape',
 * nothing else), little-endian or byte-order-free types only, C order
 * only, and the data exactly the size the shape and type say (no trailing
 * bytes). Fuzzed by tests/fuzz/npy_fuzz.c.
 */
#ifndef EML_NPY_H
#define EML_NPY_H

#include <stddef.h>
#include <stdint.h>

#include "eml_err.h"
#include "model/eml_graph.h"

#define EML_NPY_HEADER_MAX 4096u
/* Largest array accepted, checked before anything is allocated. */
#define EML_NPY_DATA_MAX ((size_t)1 << 31)

/*
 * Parse n bytes of a .npy file into *out (a fresh owned tensor, name NULL;
 * free with eml_tensor_clear). Errors: EML_ERR_MODEL (not .npy, a header
 * NumPy would not write, Fortran order, an unsupported type; the detail
 * says which), EML_ERR_ONNX_DIMS (rank or a dimension out of range),
 * EML_ERR_ONNX_DATA (cut short, bytes after the data, data or header above
 * the limits), EML_ERR_NOMEM.
 */
eml_err eml_npy_read(const uint8_t *p, size_t n, struct eml_tensor *out) EML_MUST_USE;

#endif
