/* The operator tables of the ops_*.c files (NULL-name terminated). */
#ifndef EML_OPS_H
#define EML_OPS_H

#include "engine_int.h"

extern const struct op eml_ops_basic[];
extern const struct op eml_ops_nn[];
extern const struct op eml_ops_extra[];
extern const struct op eml_ops_more[];
extern const struct op eml_ops_rnn[];
extern const struct op eml_ops_quant[];
extern const struct op eml_ops_index[];
extern const struct op eml_ops_signal[];
extern const struct op eml_ops_cf[];

#endif
