/* Shared between the topology key reader (eml_topo.c) and writer
 * (eml_topo_write.c); not part of the model/ interface. */
#ifndef EML_TOPO_INT_H
#define EML_TOPO_INT_H

#include <stddef.h>
#include <stdint.h>

#include "model/eml_graph.h"

/* Bytes of a dense tensor of dtype dt and the given dims. EML_ERR_TOPO for
 * an unknown dtype, a rank outside 0..EML_MAX_RANK, a negative dimension or
 * an overflowing product. */
eml_err eml_topo_tensor_nbytes(enum eml_dtype dt, int rank, const int64_t *dims, size_t *out)
    EML_MUST_USE;

#endif
