/* Target: eml_npy_read (client/owner/npy.c) over an untrusted .npy file,
 * as `eml tensor make --from FILE.npy` reads it.
 * Invariants: no crash or over-read; an accepted file has a known type, a
 * rank within EML_MAX_RANK and exactly the data its shape and type say
 * (the parser refuses trailing bytes), so nbytes plus the header is the
 * input size. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "client/owner/npy.h"
#include "eml_mem.h"
#include "tests/fuzz/eml_fuzz.h"

EML_FUZZ_TARGET(NULL)
{
	struct eml_tensor t;
	size_t count = 1;

	if (eml_npy_read(data, size, &t) != EML_OK)
		return 0;
	if (t.rank < 0 || t.rank > EML_MAX_RANK || eml_dtype_size(t.dtype) == 0 || !t.owned ||
	    t.nbytes >= size)
		abort();
	for (int d = 0; d < t.rank; d++)
		count *= (size_t)t.dims[d];
	if (count * eml_dtype_size(t.dtype) != t.nbytes)
		abort();
	eml_tensor_clear(&t);
	return 0;
}
