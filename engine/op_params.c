/*
 * The one place where operator attributes are read (op_params.h): names
 * and types against the operator's list, then every value into its typed
 * field with its range checked. A model's topology is written by its
 * client, so nothing here trusts a value: a count that could overrun a
 * field, an axis, a window size, a flag that is neither 0 nor 1, a float
 * that is not finite where arithmetic uses it, all stop the load with
 * EML_ERR_INFER_ATTR naming the node. Checks that need the input shapes
 * (an axis against the rank, a kernel against the weights) are the plan's.
 */
#include <math.h>
#include <string.h>

#include "engine_int.h"
#include "op_params.h"

/* ------------------------------------------------------------ attributes */

static const struct eml_attr *
attr_of(const struct eml_node *n, const char *name, enum eml_attr_type type)
{
	const struct eml_attr *a = eml_node_attr(n, name);

	/* Types were checked against the operator's list (check_attrs). */
	return a != NULL && a->type == type ? a : NULL;
}

static bool
has_attr(const struct eml_node *n, const char *name)
{
	return eml_node_attr(n, name) != NULL;
}

static int64_t
attr_int(const struct eml_node *n, const char *name, int64_t def)
{
	const struct eml_attr *a = attr_of(n, name, EML_ATTR_INT);

	return a != NULL ? a->i : def;
}

static const char *
attr_str(const struct eml_node *n, const char *name, const char *def)
{
	const struct eml_attr *a = attr_of(n, name, EML_ATTR_STRING);

	return a != NULL && a->s != NULL ? a->s : def;
}

/* An INT attribute in [lo, hi]. */
static eml_err
int_in(const struct eml_node *n, const char *name, int64_t def, int64_t lo, int64_t hi,
    int64_t *out)
{
	int64_t v = attr_int(n, name, def);

	if (v < lo || v > hi)
		return eml_pn_fail(n, EML_ERR_INFER_ATTR, "%s=%lld out of range [%lld, %lld]",
		    name, (long long)v, (long long)lo, (long long)hi);
	*out = v;
	return EML_OK;
}

/* A flag: 0 or 1. */
static eml_err
flag(const struct eml_node *n, const char *name, bool def, bool *out)
{
	int64_t v = 0;

	EML_GUARD(int_in(n, name, def ? 1 : 0, 0, 1, &v));
	*out = v != 0;
	return EML_OK;
}

/* An axis before the rank is known. */
static eml_err
axis_attr(const struct eml_node *n, const char *name, int64_t def, int64_t *out)
{
	return int_in(n, name, def, -PAR_MAX_AXIS, PAR_MAX_AXIS, out);
}

/* A finite FLOAT attribute. */
static eml_err
finite_attr(const struct eml_node *n, const char *name, float def, float *out)
{
	const struct eml_attr *a = attr_of(n, name, EML_ATTR_FLOAT);
	float v = a != NULL ? a->f : def;

	if (!isfinite(v))
		return eml_pn_fail(n, EML_ERR_INFER_ATTR, "%s is not finite", name);
	*out = v;
	return EML_OK;
}

/* An INTS attribute of at most max values, each in [lo, hi]; *cnt is 0
 * when it is absent. */
static eml_err
ints_in(const struct eml_node *n, const char *name, size_t max, int64_t lo, int64_t hi,
    int64_t *dst, size_t *cnt)
{
	const struct eml_attr *a = attr_of(n, name, EML_ATTR_INTS);

	*cnt = 0;
	if (a == NULL)
		return EML_OK;
	if (a->n > max)
		return eml_pn_fail(n, EML_ERR_INFER_ATTR, "%s has %zu values, at most %zu", name,
		    a->n, max);
	for (size_t i = 0; i < a->n; i++) {
		if (a->ints[i] < lo || a->ints[i] > hi)
			return eml_pn_fail(n, EML_ERR_INFER_ATTR, "%s[%zu]=%lld out of range", name,
			    i, (long long)a->ints[i]);
		dst[i] = a->ints[i];
	}
	*cnt = a->n;
	return EML_OK;
}

static bool
attr_type_ok(char t, enum eml_attr_type at)
{
	switch (t) {
	case 'i':
		return at == EML_ATTR_INT;
	case 'f':
		return at == EML_ATTR_FLOAT;
	case 's':
		return at == EML_ATTR_STRING;
	case 'I':
		return at == EML_ATTR_INTS;
	case 'F':
		return at == EML_ATTR_FLOATS;
	case 'S':
		return at == EML_ATTR_STRINGS;
	case 'T':
		return at == EML_ATTR_TENSOR;
	case 'G':
		return at == EML_ATTR_GRAPH;
	default:
		return false;
	}
}

/* Every attribute must be in the op's list with the listed type: an
 * attribute we do not know could change the meaning of the node. */
static eml_err
check_attrs(const struct op *op, const struct eml_node *n)
{
	for (size_t i = 0; i < n->n_attrs; i++) {
		const struct eml_attr *a = &n->attrs[i];
		size_t len = strlen(a->name);
		const char *s = op->attrs;
		bool found = false;

		while (s != NULL && *s != '\0') {
			const char *colon = strchr(s, ':');
			if (colon == NULL)
				break;
			if ((size_t)(colon - s) == len && strncmp(s, a->name, len) == 0) {
				found = true;
				if (!attr_type_ok(colon[1], a->type))
					return eml_pn_fail(n, EML_ERR_INFER_ATTR,
					    "attribute %s has the wrong type", a->name);
				break;
			}
			s = colon + 2;
			while (*s == ' ')
				s++;
		}
		if (!found)
			return eml_pn_fail(n, EML_ERR_INFER_ATTR, "attribute %s not supported",
			    a->name);
		/* Given twice, which one counts would be a choice the writer
		 * did not make (the ONNX importer refuses it; a topology key
		 * is written by hand). */
		for (size_t j = 0; j < i; j++)
			if (strcmp(n->attrs[j].name, a->name) == 0)
				return eml_pn_fail(n, EML_ERR_INFER_ATTR, "attribute %s given twice",
				    a->name);
	}
	return EML_OK;
}

/* Index of name in names[0..n), or -1. */
static int
name_index(const char *const *names, int n, const char *name)
{
	for (int i = 0; i < n; i++)
		if (strcmp(names[i], name) == 0)
			return i;
	return -1;
}

static eml_err
need_opset(const struct eml_node *n, int64_t opset, int64_t min, const char *what)
{
	if (opset < min)
		return eml_pn_fail(n, EML_ERR_INFER_ATTR, "opset %lld %s not supported",
		    (long long)opset, what);
	return EML_OK;
}

/* ------------------------------------------------------------ element-wise */

static eml_err
parse_unary(const struct eml_node *n, int64_t opset, struct op_par *par)
{
	struct unary_par *u = &par->unary;
	static const char *const names[] = { "Relu", "LeakyRelu", "Clip", "HardSigmoid",
		"HardSwish", "Sigmoid", "Tanh", "Exp", "Log", "Sqrt", "Abs", "Neg", "Reciprocal",
		"Erf" };
	static const enum eml_unary ops[] = { EML_UNARY_RELU, EML_UNARY_LEAKY_RELU,
		EML_UNARY_CLIP, EML_UNARY_HARDSIGMOID, EML_UNARY_HARDSWISH, EML_UNARY_SIGMOID,
		EML_UNARY_TANH, EML_UNARY_EXP, EML_UNARY_LOG, EML_UNARY_SQRT, EML_UNARY_ABS,
		EML_UNARY_NEG, EML_UNARY_RECIPROCAL, EML_UNARY_ERF };
	int k = name_index(names, (int)(sizeof(names) / sizeof(names[0])), n->op_type);
	const struct eml_attr *a;

	if (k < 0)
		return eml_pn_fail(n, EML_ERR_INTERNAL, "no unary mapping");
	u->op = ops[k];
	u->min = -INFINITY;
	u->max = INFINITY;
	switch (u->op) {
	case EML_UNARY_LEAKY_RELU:
		return finite_attr(n, "alpha", 0.01f, &u->alpha);
	case EML_UNARY_HARDSIGMOID:
		EML_GUARD(finite_attr(n, "alpha", 0.2f, &u->alpha));
		return finite_attr(n, "beta", 0.5f, &u->beta);
	case EML_UNARY_CLIP:
		/* Clip-6: min/max attributes; Clip-11+: optional inputs. An
		 * infinite bound is no bound; NaN has no meaning. */
		if (opset >= 11 && (has_attr(n, "min") || has_attr(n, "max")))
			return eml_pn_fail(n, EML_ERR_INFER_ATTR,
			    "min/max attributes after opset 11");
		if ((a = attr_of(n, "min", EML_ATTR_FLOAT)) != NULL)
			u->min = a->f;
		if ((a = attr_of(n, "max", EML_ATTR_FLOAT)) != NULL)
			u->max = a->f;
		if (isnan(u->min) || isnan(u->max))
			return eml_pn_fail(n, EML_ERR_INFER_ATTR, "min/max is NaN");
		return EML_OK;
	default:
		return EML_OK;
	}
}

static eml_err
parse_binary(const struct eml_node *n, int64_t opset, struct op_par *par)
{
	struct binary_par *b = &par->binary;
	static const char *const names[] = { "Add", "Sub", "Mul", "Div", "Pow" };
	static const enum eml_binary ops[] = { EML_BINARY_ADD, EML_BINARY_SUB, EML_BINARY_MUL,
		EML_BINARY_DIV, EML_BINARY_POW };
	int k = name_index(names, 5, n->op_type);

	if (k < 0)
		return eml_pn_fail(n, EML_ERR_INTERNAL, "no binary mapping");
	b->op = ops[k];
	/* Opsets < 7: no broadcasting unless broadcast=1, and then B to A
	 * from the trailing dimensions (an axis elsewhere is refused). */
	if (opset >= 7 && (has_attr(n, "broadcast") || has_attr(n, "axis")))
		return eml_pn_fail(n, EML_ERR_INFER_ATTR, "broadcast/axis after opset 7");
	b->legacy = opset < 7;
	EML_GUARD(flag(n, "broadcast", false, &b->legacy_bcast));
	b->has_axis = has_attr(n, "axis");
	if (b->has_axis && !b->legacy_bcast)
		return eml_pn_fail(n, EML_ERR_INFER_ATTR, "axis without broadcast=1");
	return axis_attr(n, "axis", 0, &b->axis);
}

static eml_err
parse_cast(const struct eml_node *n, int64_t opset, struct op_par *par)
{
	struct cast_par *c = &par->cast;
	int64_t to = attr_int(n, "to", 0);
	bool saturate;

	(void)opset;
	/* saturate only matters for float8 targets, which are not supported:
	 * Cast accepts the default only, CastLike any flag. */
	EML_GUARD(flag(n, "saturate", true, &saturate));
	if (strcmp(n->op_type, "CastLike") == 0)
		return EML_OK;
	if (!eml_cast_dtype_ok(to))
		return eml_pn_fail(n, EML_ERR_INFER_DTYPE, "cast to type %lld not supported",
		    (long long)to);
	if (!saturate)
		return eml_pn_fail(n, EML_ERR_INFER_ATTR, "saturate=0 not supported");
	c->to = (enum eml_dtype)to;
	return EML_OK;
}

/* ------------------------------------------------------------ layout */

static eml_err
parse_dropout(const struct eml_node *n, int64_t opset, struct op_par *par)
{
	struct dropout_par *d = &par->dropout;
	bool is_test;

	(void)opset;
	/* seed only matters when training. */
	EML_GUARD(flag(n, "is_test", true, &is_test));
	if (!is_test)
		return eml_pn_fail(n, EML_ERR_INFER_ATTR, "is_test=0 not supported");
	EML_GUARD(finite_attr(n, "ratio", 0.5f, &d->ratio));
	if (d->ratio < 0.0f || d->ratio >= 1.0f)
		return eml_pn_fail(n, EML_ERR_INFER_ATTR, "ratio %g out of [0, 1)",
		    (double)d->ratio);
	return EML_OK;
}

static eml_err
parse_reshape(const struct eml_node *n, int64_t opset, struct op_par *par)
{
	struct reshape_par *r = &par->reshape;

	(void)opset;
	if (n->n_inputs < 2)
		return eml_pn_fail(n, EML_ERR_INFER_ATTR, "Reshape-1 (shape attribute) not "
		    "supported");
	return flag(n, "allowzero", false, &r->allowzero);
}

static eml_err
parse_axis(const struct eml_node *n, int64_t opset, struct op_par *par)
{
	struct axis_par *a = &par->axis;
	int64_t def = strcmp(n->op_type, "Flatten") == 0 ? 1 :
	    strcmp(n->op_type, "OneHot") == 0 ? -1 : 0;

	(void)opset;
	if (strcmp(n->op_type, "Concat") == 0 && !has_attr(n, "axis"))
		return eml_pn_fail(n, EML_ERR_INFER_ATTR, "axis missing");
	return axis_attr(n, "axis", def, &a->axis);
}

static eml_err
parse_axes(const struct eml_node *n, int64_t opset, struct op_par *par)
{
	struct axes_par *a = &par->axes;

	(void)opset;
	return ints_in(n, "axes", EML_MAX_RANK, -PAR_MAX_AXIS, PAR_MAX_AXIS - 1, a->axes,
	    &a->n_axes);
}

static eml_err
parse_shape(const struct eml_node *n, int64_t opset, struct op_par *par)
{
	struct shape_par *s = &par->shape;

	(void)opset;
	/* Any start/end: the plan clamps them to [0, rank]. */
	s->start = attr_int(n, "start", 0);
	s->has_end = has_attr(n, "end");
	s->end = attr_int(n, "end", 0);
	return EML_OK;
}

static eml_err
parse_constant(const struct eml_node *n, int64_t opset, struct op_par *par)
{
	struct constant_par *c = &par->constant;

	(void)opset;
	if (n->n_attrs != 1)
		return eml_pn_fail(n, EML_ERR_INFER_ATTR, "needs exactly one value attribute");
	if (n->attrs[0].type == EML_ATTR_TENSOR &&
	    eml_dtype_size(n->attrs[0].t->dtype) == 0)
		return eml_pn_fail(n, EML_ERR_INFER_DTYPE, "value of type %s",
		    eml_dtype_name(n->attrs[0].t->dtype));
	c->value = &n->attrs[0];
	return EML_OK;
}

static eml_err
parse_const_of_shape(const struct eml_node *n, int64_t opset, struct op_par *par)
{
	struct const_of_shape_par *c = &par->const_of_shape;
	const struct eml_attr *a = attr_of(n, "value", EML_ATTR_TENSOR);

	(void)opset;
	c->value = NULL;
	if (a == NULL)
		return EML_OK;
	if (a->t->rank > 1 || eml_dtype_size(a->t->dtype) == 0 ||
	    a->t->nbytes != eml_dtype_size(a->t->dtype))
		return eml_pn_fail(n, EML_ERR_INFER_ATTR, "value must be one element");
	c->value = a->t;
	return EML_OK;
}

static eml_err
parse_split(const struct eml_node *n, int64_t opset, struct op_par *par)
{
	struct split_par *s = &par->split;
	const struct eml_attr *a = attr_of(n, "split", EML_ATTR_INTS);
	int64_t parts;

	(void)opset;
	for (size_t i = 0; i < n->n_outputs; i++)
		if (n->outputs[i][0] == '\0')
			return eml_pn_fail(n, EML_ERR_INFER_ATTR, "omitted outputs not supported");
	EML_GUARD(axis_attr(n, "axis", 0, &s->axis));
	s->split = NULL;
	s->n_split = 0;
	if (a != NULL) {
		if (a->n > PAR_MAX_SPLIT)
			return eml_pn_fail(n, EML_ERR_INFER_ATTR, "more than %d splits",
			    PAR_MAX_SPLIT);
		for (size_t i = 0; i < a->n; i++)
			if (a->ints[i] < 0)
				return eml_pn_fail(n, EML_ERR_INFER_ATTR, "split size %lld",
				    (long long)a->ints[i]);
		s->split = a->ints;
		s->n_split = a->n;
	}
	s->has_num_outputs = has_attr(n, "num_outputs");
	if (s->has_num_outputs) {
		EML_GUARD(int_in(n, "num_outputs", 1, 1, PAR_MAX_SPLIT, &parts));
		if ((size_t)parts != n->n_outputs)
			return eml_pn_fail(n, EML_ERR_INFER_ATTR, "num_outputs %lld for %zu outputs",
			    (long long)parts, n->n_outputs);
	}
	return EML_OK;
}

static eml_err
parse_slice(const struct eml_node *n, int64_t opset, struct op_par *par)
{
	struct slice_par *s = &par->slice;

	(void)opset;
	/* starts/ends may be anything: the plan clamps them. */
	EML_GUARD(ints_in(n, "starts", EML_MAX_RANK, INT64_MIN, INT64_MAX, s->starts,
	    &s->n_starts));
	EML_GUARD(ints_in(n, "ends", EML_MAX_RANK, INT64_MIN, INT64_MAX, s->ends, &s->n_ends));
	return ints_in(n, "axes", EML_MAX_RANK, -PAR_MAX_AXIS, PAR_MAX_AXIS - 1, s->axes,
	    &s->n_axes);
}

static eml_err
parse_transpose(const struct eml_node *n, int64_t opset, struct op_par *par)
{
	struct transpose_par *t = &par->transpose;

	(void)opset;
	return ints_in(n, "perm", EML_MAX_RANK, 0, EML_MAX_RANK - 1, t->perm, &t->n_perm);
}

static eml_err
parse_pad(const struct eml_node *n, int64_t opset, struct op_par *par)
{
	struct pad_par *pd = &par->pad;
	const char *mode = attr_str(n, "mode", "constant");
	const struct eml_attr *v = attr_of(n, "value", EML_ATTR_FLOAT);

	(void)opset;
	if (strcmp(mode, "constant") == 0)
		pd->mode = PAD_CONSTANT;
	else if (strcmp(mode, "reflect") == 0)
		pd->mode = PAD_REFLECT;
	else if (strcmp(mode, "edge") == 0)
		pd->mode = PAD_EDGE;
	else
		return eml_pn_fail(n, EML_ERR_INFER_ATTR, "mode=%s not supported", mode);
	/* The fill value is data, not a size: any float (-inf is common). */
	pd->value = v != NULL ? v->f : 0.0f;
	return ints_in(n, "pads", 2 * EML_MAX_RANK, -PAR_MAX_PAD, PAR_MAX_PAD, pd->pads,
	    &pd->n_pads);
}

/* ------------------------------------------------------------ windows */

static eml_err
parse_win(const struct eml_node *n, struct win_attrs *w)
{
	const char *ap = attr_str(n, "auto_pad", "NOTSET");

	if (strcmp(ap, "NOTSET") == 0)
		w->auto_pad = AUTO_PAD_NOTSET;
	else if (strcmp(ap, "SAME_UPPER") == 0)
		w->auto_pad = AUTO_PAD_SAME_UPPER;
	else if (strcmp(ap, "SAME_LOWER") == 0)
		w->auto_pad = AUTO_PAD_SAME_LOWER;
	else if (strcmp(ap, "VALID") == 0)
		w->auto_pad = AUTO_PAD_VALID;
	else
		return eml_pn_fail(n, EML_ERR_INFER_ATTR, "auto_pad=%s not supported", ap);
	/* One to three spatial axes: the plan matches the counts to the rank
	 * (three for Conv and the pools only). */
	EML_GUARD(ints_in(n, "kernel_shape", 3, 1, PAR_MAX_WINDOW, w->kernel, &w->n_kernel));
	EML_GUARD(ints_in(n, "strides", 3, 1, PAR_MAX_WINDOW, w->strides, &w->n_strides));
	EML_GUARD(ints_in(n, "dilations", 3, 1, PAR_MAX_WINDOW, w->dilations,
	    &w->n_dilations));
	return ints_in(n, "pads", 6, 0, PAR_MAX_WINDOW, w->pads, &w->n_pads);
}

/* Groups: enough for any depthwise layer, small enough that channels
 * times groups cannot overflow. */
#define PAR_MAX_GROUP ((int64_t)1 << 24)

static eml_err
parse_conv(const struct eml_node *n, int64_t opset, struct op_par *par)
{
	struct conv_par *c = &par->conv;

	(void)opset;
	EML_GUARD(parse_win(n, &c->win));
	if (attr_int(n, "group", 1) < 1)
		return eml_pn_fail(n, EML_ERR_INFER_ATTR, "group < 1");
	EML_GUARD(int_in(n, "group", 1, 1, PAR_MAX_GROUP, &c->group));
	EML_GUARD(ints_in(n, "output_padding", 2, 0, PAR_MAX_WINDOW, c->output_padding,
	    &c->n_output_padding));
	return ints_in(n, "output_shape", EML_MAX_RANK, 0, PAR_MAX_PAD, c->output_shape,
	    &c->n_output_shape);
}

static eml_err
parse_pool(const struct eml_node *n, int64_t opset, struct op_par *par)
{
	struct pool_par *pl = &par->pool;

	EML_GUARD(parse_win(n, &pl->win));
	/* MaxPool-8+: an Indices output, flat indices row- or column-major. */
	if (n->n_outputs > 1 && opset < 8)
		return eml_pn_fail(n, EML_ERR_INFER_ATTR, "Indices output before opset 8");
	EML_GUARD(flag(n, "storage_order", false, &pl->col_major));
	EML_GUARD(flag(n, "ceil_mode", false, &pl->ceil_mode));
	pl->is_max = strcmp(n->op_type, "MaxPool") == 0;
	EML_GUARD(flag(n, "count_include_pad", false, &pl->count_include_pad));
	if (pl->is_max)
		pl->count_include_pad = false;
	return EML_OK;
}

/* ------------------------------------------------------------ nn */

static eml_err
parse_gemm(const struct eml_node *n, int64_t opset, struct op_par *par)
{
	struct gemm_par *g = &par->gemm;
	bool bc = false;

	/* Gemm-6 and older: broadcast=1 is Gemm-7's unidirectional C;
	 * without it C has the output's exact shape (checked by the plan). */
	EML_GUARD(flag(n, "broadcast", false, &bc));
	g->c_exact = opset < 7 && !bc;
	if (opset >= 7 && has_attr(n, "broadcast"))
		return eml_pn_fail(n, EML_ERR_INFER_ATTR, "broadcast after opset 7");
	EML_GUARD(finite_attr(n, "alpha", 1.0f, &g->alpha));
	EML_GUARD(finite_attr(n, "beta", 1.0f, &g->beta));
	EML_GUARD(flag(n, "transA", false, &g->trans_a));
	return flag(n, "transB", false, &g->trans_b);
}

/* epsilon is added to a variance: finite and not negative. */
static eml_err
epsilon(const struct eml_node *n, float *out)
{
	EML_GUARD(finite_attr(n, "epsilon", 1e-5f, out));
	if (*out < 0.0f)
		return eml_pn_fail(n, EML_ERR_INFER_ATTR, "epsilon %g < 0", (double)*out);
	return EML_OK;
}

static eml_err
parse_batchnorm(const struct eml_node *n, int64_t opset, struct op_par *par)
{
	struct batchnorm_par *b = &par->batchnorm;
	bool flag_v;

	(void)opset;
	/* momentum only matters when training. */
	if (attr_int(n, "spatial", 1) != 1)
		return eml_pn_fail(n, EML_ERR_INFER_ATTR, "spatial=0 not supported");
	if (attr_int(n, "training_mode", 0) != 0)
		return eml_pn_fail(n, EML_ERR_INFER_ATTR, "training_mode=1 not supported");
	if (n->n_outputs > 1)
		return eml_pn_fail(n, EML_ERR_INFER_ATTR, "training outputs not supported");
	if (has_attr(n, "is_test") && attr_int(n, "is_test", 0) == 0)
		return eml_pn_fail(n, EML_ERR_INFER_ATTR, "is_test=0 not supported");
	EML_GUARD(flag(n, "is_test", true, &flag_v));
	return epsilon(n, &b->epsilon);
}

static eml_err
parse_softmax(const struct eml_node *n, int64_t opset, struct op_par *par)
{
	struct softmax_par *s = &par->softmax;

	/* The default axis and the 2-D coercion changed in opset 13. */
	s->coerce_2d = opset < 13;
	s->log = strcmp(n->op_type, "LogSoftmax") == 0;
	return axis_attr(n, "axis", opset >= 13 ? -1 : 1, &s->axis);
}

static eml_err
parse_reduce(const struct eml_node *n, int64_t opset, struct op_par *par)
{
	struct reduce_par *r = &par->reduce;
	static const char *const kinds[] = { "ReduceSum", "ReduceMean", "ReduceMax",
		"ReduceMin", "ReduceProd", "ReduceL1", "ReduceL2", "ReduceSumSquare",
		"ReduceLogSumExp", "ReduceLogSum" };
	int k = name_index(kinds, 10, n->op_type);

	(void)opset;
	r->kind = k < 0 ? RK_SUM : (enum reduce_kind)k;
	EML_GUARD(flag(n, "keepdims", true, &r->keepdims));
	EML_GUARD(flag(n, "noop_with_empty_axes", false, &r->noop_with_empty_axes));
	return ints_in(n, "axes", EML_MAX_RANK, -PAR_MAX_AXIS, PAR_MAX_AXIS - 1, r->axes,
	    &r->n_axes);
}

static eml_err
parse_layernorm(const struct eml_node *n, int64_t opset, struct op_par *par)
{
	struct layernorm_par *l = &par->layernorm;

	(void)opset;
	if (attr_int(n, "stash_type", 1) != 1)
		return eml_pn_fail(n, EML_ERR_INFER_ATTR, "stash_type not supported");
	EML_GUARD(axis_attr(n, "axis", -1, &l->axis));
	return epsilon(n, &l->epsilon);
}

/* Upsample (opset 7-10): Resize-10's asymmetric coordinates and floor
 * rounding; the scales are an attribute before opset 9, then input 1. */
static eml_err
parse_upsample(const struct eml_node *n, int64_t opset, struct op_par *par)
{
	struct resize_par *r = &par->resize;
	const struct eml_attr *sc = attr_of(n, "scales", EML_ATTR_FLOATS);
	const char *mode = attr_str(n, "mode", "nearest");

	r->upsample = true;
	r->coord = RC_ASYMMETRIC;
	r->nearest = RN_FLOOR;
	r->linear = strcmp(mode, "linear") == 0 || strcmp(mode, "bilinear") == 0;
	if (!r->linear && strcmp(mode, "nearest") != 0)
		return eml_pn_fail(n, EML_ERR_INFER_ATTR, "mode=%s not supported", mode);
	if (opset >= 9)
		return sc == NULL ? EML_OK :
		    eml_pn_fail(n, EML_ERR_INFER_ATTR, "scales attribute after opset 9");
	if (sc == NULL || sc->n == 0 || sc->n > EML_MAX_RANK)
		return eml_pn_fail(n, EML_ERR_INFER_ATTR, "scales: 1 to %d values needed",
		    EML_MAX_RANK);
	for (size_t i = 0; i < sc->n; i++) {
		/* Upsample only enlarges. */
		if (!(sc->floats[i] >= 1.0f) || sc->floats[i] > 65536.0f)
			return eml_pn_fail(n, EML_ERR_INFER_ATTR, "scale %g", (double)sc->floats[i]);
		r->scales[i] = sc->floats[i];
	}
	r->n_attr_scales = sc->n;
	return EML_OK;
}

static eml_err
parse_resize(const struct eml_node *n, int64_t opset, struct op_par *par)
{
	struct resize_par *r = &par->resize;
	static const char *const coords[] = { "half_pixel", "pytorch_half_pixel",
		"align_corners", "asymmetric", "tf_half_pixel_for_nn", "tf_crop_and_resize" };
	static const char *const nearests[] = { "round_prefer_floor", "round_prefer_ceil",
		"floor", "ceil" };
	const char *mode = attr_str(n, "mode", "nearest");
	const char *ct = attr_str(n, "coordinate_transformation_mode", "half_pixel");
	const char *nm = attr_str(n, "nearest_mode", "round_prefer_floor");
	int c = name_index(coords, 6, ct), k = name_index(nearests, 4, nm);

	if (strcmp(n->op_type, "Upsample") == 0)
		return parse_upsample(n, opset, par);
	if (strcmp(mode, "nearest") != 0 && strcmp(mode, "linear") != 0 &&
	    strcmp(mode, "cubic") != 0)
		return eml_pn_fail(n, EML_ERR_INFER_ATTR, "mode=%s not supported", mode);
	r->linear = strcmp(mode, "linear") == 0;
	r->cubic = strcmp(mode, "cubic") == 0;
	EML_GUARD(finite_attr(n, "cubic_coeff_a", -0.75f, &r->cubic_a));
	EML_GUARD(finite_attr(n, "extrapolation_value", 0.0f, &r->extrapolation));
	EML_GUARD(flag(n, "exclude_outside", false, &r->exclude_outside));
	if (r->cubic && opset < 11)
		return eml_pn_fail(n, EML_ERR_INFER_ATTR, "cubic before opset 11 not supported");
	/* tf_crop_and_resize with cubic taps would need the extrapolation
	 * per tap; no exporter writes it. */
	if (opset >= 11 && (c < 0 || (c == RC_TF_HALF_PIXEL_NEAREST && r->linear) ||
	    (c == RC_TF_CROP_AND_RESIZE && r->cubic)))
		return eml_pn_fail(n, EML_ERR_INFER_ATTR,
		    "coordinate_transformation_mode=%s not supported", ct);
	if (k < 0)
		return eml_pn_fail(n, EML_ERR_INFER_ATTR, "nearest_mode=%s not supported", nm);
	if (attr_int(n, "antialias", 0) != 0)
		return eml_pn_fail(n, EML_ERR_INFER_ATTR, "antialias not supported");
	if (strcmp(attr_str(n, "keep_aspect_ratio_policy", "stretch"), "stretch") != 0)
		return eml_pn_fail(n, EML_ERR_INFER_ATTR, "keep_aspect_ratio_policy not supported");
	if (has_attr(n, "axes"))
		return eml_pn_fail(n, EML_ERR_INFER_ATTR, "axes not supported");
	if (opset < 11) {
		/* Upsample-like Resize-10: asymmetric, floor. */
		r->coord = RC_ASYMMETRIC;
		r->nearest = RN_FLOOR;
	} else {
		r->coord = (enum resize_coord)c;
		r->nearest = (enum resize_nearest)k;
	}
	return EML_OK;
}

/* ------------------------------------------------------------ extra */

static eml_err
parse_math(const struct eml_node *n, int64_t opset, struct op_par *par)
{
	struct math_par *m = &par->math;
	static const char *const names[M_COUNT] = { "Floor", "Ceil", "Round", "Sign", "Sin",
		"Cos", "Tan", "Asin", "Acos", "Atan", "Sinh", "Cosh", "Asinh", "Acosh", "Atanh",
		"Softsign", "Softplus", "Elu", "Selu", "Celu", "ThresholdedRelu", "IsNaN" };
	int k = name_index(names, M_COUNT, n->op_type);

	(void)opset;
	if (k < 0)
		return eml_pn_fail(n, EML_ERR_INTERNAL, "no math mapping");
	m->kind = (enum math_kind)k;
	m->alpha = 0.0f;
	m->gamma = 0.0f;
	switch (m->kind) {
	case M_ELU:
	case M_THRELU:
		return finite_attr(n, "alpha", 1.0f, &m->alpha);
	case M_SELU:
		EML_GUARD(finite_attr(n, "alpha", 1.67326319217681884765625f, &m->alpha));
		return finite_attr(n, "gamma", 1.05070102214813232421875f, &m->gamma);
	case M_CELU:
		/* Celu divides by alpha. */
		EML_GUARD(finite_attr(n, "alpha", 1.0f, &m->alpha));
		if (m->alpha == 0.0f)
			return eml_pn_fail(n, EML_ERR_INFER_ATTR, "alpha 0");
		return EML_OK;
	default:
		return EML_OK;
	}
}

static eml_err
parse_arg(const struct eml_node *n, int64_t opset, struct op_par *par)
{
	struct arg_par *a = &par->arg;

	(void)opset;
	a->is_max = strcmp(n->op_type, "ArgMax") == 0;
	EML_GUARD(axis_attr(n, "axis", 0, &a->axis));
	EML_GUARD(flag(n, "keepdims", true, &a->keepdims));
	return flag(n, "select_last_index", false, &a->select_last_index);
}

static eml_err
parse_none(const struct eml_node *n, int64_t opset, struct op_par *par)
{
	(void)n;
	(void)opset;
	(void)par;
	return EML_OK;
}

static eml_err
parse_global_pool(const struct eml_node *n, int64_t opset, struct op_par *par)
{
	(void)opset;
	par->global_pool.is_max = strcmp(n->op_type, "GlobalMaxPool") == 0;
	return EML_OK;
}

static eml_err
parse_variadic(const struct eml_node *n, int64_t opset, struct op_par *par)
{
	static const char *const names[] = { "Sum", "Mean", "Max", "Min" };
	int k = name_index(names, 4, n->op_type);

	(void)opset;
	if (k < 0)
		return eml_pn_fail(n, EML_ERR_INTERNAL, "no variadic mapping");
	par->variadic.kind = (enum variadic_kind)k;
	return EML_OK;
}

static eml_err
parse_compare(const struct eml_node *n, int64_t opset, struct op_par *par)
{
	static const char *const names[] = { "Equal", "Less", "Greater", "LessOrEqual",
		"GreaterOrEqual", "And", "Or", "Xor" };
	int k = name_index(names, 8, n->op_type);

	(void)opset;
	if (k < 0)
		return eml_pn_fail(n, EML_ERR_INTERNAL, "no comparison mapping");
	par->compare.kind = (enum compare_kind)k;
	return EML_OK;
}

static eml_err
parse_prelu(const struct eml_node *n, int64_t opset, struct op_par *par)
{
	(void)n;
	/* PRelu-6 and older: slope per channel, not numpy broadcasting; the
	 * plan takes the layouts where both agree. */
	par->prelu.legacy = opset < 7;
	return EML_OK;
}

static eml_err
parse_mod(const struct eml_node *n, int64_t opset, struct op_par *par)
{
	(void)opset;
	return flag(n, "fmod", false, &par->mod.fmod);
}

static eml_err
parse_trilu(const struct eml_node *n, int64_t opset, struct op_par *par)
{
	(void)opset;
	return flag(n, "upper", true, &par->trilu.upper);
}

static eml_err
parse_cumsum(const struct eml_node *n, int64_t opset, struct op_par *par)
{
	(void)opset;
	EML_GUARD(flag(n, "exclusive", false, &par->cumsum.exclusive));
	return flag(n, "reverse", false, &par->cumsum.reverse);
}

/* A string attribute among names[0..n), as its index. */
static eml_err
choice(const struct eml_node *n, const char *name, const char *def, const char *const *names,
    int cnt, int *out)
{
	const char *v = attr_str(n, name, def);
	int k = name_index(names, cnt, v);

	if (k < 0)
		return eml_pn_fail(n, EML_ERR_INFER_ATTR, "%s=%s not supported", name, v);
	*out = k;
	return EML_OK;
}

static eml_err
parse_loss(const struct eml_node *n, int64_t opset, struct op_par *par)
{
	static const char *const reds[] = { "none", "sum", "mean" };
	struct loss_par *l = &par->loss;
	int k = 0;

	(void)opset;
	EML_GUARD(choice(n, "reduction", "mean", reds, 3, &k));
	l->reduction = (enum loss_reduction)k;
	l->has_ignore = has_attr(n, "ignore_index");
	l->ignore_index = attr_int(n, "ignore_index", 0);
	return EML_OK;
}

static eml_err
parse_d2s(const struct eml_node *n, int64_t opset, struct op_par *par)
{
	static const char *const modes[] = { "DCR", "CRD" };
	struct d2s_par *d = &par->d2s;
	int k = 0;

	(void)opset;
	if (!has_attr(n, "blocksize"))
		return eml_pn_fail(n, EML_ERR_INFER_ATTR, "blocksize missing");
	EML_GUARD(int_in(n, "blocksize", 1, 1, PAR_MAX_WINDOW, &d->blocksize));
	EML_GUARD(choice(n, "mode", "DCR", modes, 2, &k));
	d->crd = k == 1;
	return EML_OK;
}

static eml_err
parse_gathernd(const struct eml_node *n, int64_t opset, struct op_par *par)
{
	(void)opset;
	return int_in(n, "batch_dims", 0, 0, EML_MAX_RANK, &par->gathernd.batch_dims);
}

static eml_err
parse_scatter(const struct eml_node *n, int64_t opset, struct op_par *par)
{
	static const char *const reds[] = { "none", "add", "mul", "max", "min" };
	struct scatter_par *s = &par->scatter;
	int k = 0;

	(void)opset;
	EML_GUARD(axis_attr(n, "axis", 0, &s->axis));
	EML_GUARD(choice(n, "reduction", "none", reds, 5, &k));
	s->reduction = (enum scatter_reduction)k;
	return EML_OK;
}

static eml_err
parse_topk(const struct eml_node *n, int64_t opset, struct op_par *par)
{
	struct topk_par *t = &par->topk;

	/* TopK-1 takes k as an attribute; 10+ as an input. */
	EML_GUARD(need_opset(n, opset, 10, "k attribute"));
	EML_GUARD(axis_attr(n, "axis", -1, &t->axis));
	EML_GUARD(flag(n, "largest", true, &t->largest));
	return flag(n, "sorted", true, &t->sorted);
}

static eml_err
parse_isinf(const struct eml_node *n, int64_t opset, struct op_par *par)
{
	(void)opset;
	EML_GUARD(flag(n, "detect_negative", true, &par->isinf.negative));
	return flag(n, "detect_positive", true, &par->isinf.positive);
}

static eml_err
parse_shrink(const struct eml_node *n, int64_t opset, struct op_par *par)
{
	(void)opset;
	EML_GUARD(finite_attr(n, "bias", 0.0f, &par->shrink.bias));
	return finite_attr(n, "lambd", 0.5f, &par->shrink.lambd);
}

static eml_err
parse_eyelike(const struct eml_node *n, int64_t opset, struct op_par *par)
{
	struct eyelike_par *e = &par->eyelike;
	int64_t dt = 0;

	(void)opset;
	e->has_dtype = has_attr(n, "dtype");
	if (e->has_dtype) {
		EML_GUARD(int_in(n, "dtype", 1, 1, 16, &dt));
		if (!eml_cast_dtype_ok(dt))
			return eml_pn_fail(n, EML_ERR_INFER_DTYPE, "dtype %lld not supported",
			    (long long)dt);
		e->dtype = (enum eml_dtype)dt;
	}
	return int_in(n, "k", 0, -PAR_MAX_PAD, PAR_MAX_PAD, &e->k);
}

static eml_err
parse_bitshift(const struct eml_node *n, int64_t opset, struct op_par *par)
{
	static const char *const dirs[] = { "RIGHT", "LEFT" };
	int k = 0;

	(void)opset;
	if (!has_attr(n, "direction"))
		return eml_pn_fail(n, EML_ERR_INFER_ATTR, "direction missing");
	EML_GUARD(choice(n, "direction", "RIGHT", dirs, 2, &k));
	par->bitshift.left = k == 1;
	return EML_OK;
}

/* The activations attribute of a recurrent layer (or its defaults), with
 * activation_alpha/beta consumed in order by the functions that take them. */
static eml_err
rnn_acts(const struct eml_node *n, struct rnn_par *r)
{
	static const char *const names[RA_COUNT] = { "Relu", "Tanh", "Sigmoid", "Affine",
		"LeakyRelu", "ThresholdedRelu", "ScaledTanh", "HardSigmoid", "Elu", "Softsign",
		"Softplus" };
	/* Default alpha and beta of each (NAN: not taken). */
	static const float def_a[RA_COUNT] = { NAN, NAN, NAN, 1.0f, 0.01f, 1.0f, 1.0f, 0.2f,
		1.0f, NAN, NAN };
	static const float def_b[RA_COUNT] = { NAN, NAN, NAN, 0.0f, NAN, NAN, 1.0f, 0.5f, NAN,
		NAN, NAN };
	static const enum rnn_act_kind defaults[3][3] = { { RA_TANH }, { RA_SIGMOID, RA_TANH },
		{ RA_SIGMOID, RA_TANH, RA_TANH } };
	const struct eml_attr *a = attr_of(n, "activations", EML_ATTR_STRINGS);
	const struct eml_attr *al = attr_of(n, "activation_alpha", EML_ATTR_FLOATS);
	const struct eml_attr *be = attr_of(n, "activation_beta", EML_ATTR_FLOATS);
	size_t total = (size_t)(r->n_acts * r->dirs), ia = 0, ib = 0;

	if (a != NULL && a->n != total && !(a->n == (size_t)r->n_acts))
		return eml_pn_fail(n, EML_ERR_INFER_ATTR, "activations has %zu names, want %zu",
		    a->n, total);
	for (size_t i = 0; i < total; i++) {
		struct rnn_act *ac = &r->act[i];
		if (a != NULL) {
			int k = name_index(names, RA_COUNT, a->strings[i % a->n]);
			if (k < 0)
				return eml_pn_fail(n, EML_ERR_INFER_ATTR,
				    "activation %s not supported", a->strings[i % a->n]);
			ac->kind = (enum rnn_act_kind)k;
		} else {
			ac->kind = defaults[r->cell][i % (size_t)r->n_acts];
		}
		ac->alpha = def_a[ac->kind];
		ac->beta = def_b[ac->kind];
		if (!isnan(ac->alpha) && al != NULL && ia < al->n)
			ac->alpha = al->floats[ia++];
		if (!isnan(ac->beta) && be != NULL && ib < be->n)
			ac->beta = be->floats[ib++];
		if (!isfinite(ac->alpha) && !isnan(def_a[ac->kind]))
			return eml_pn_fail(n, EML_ERR_INFER_ATTR, "activation_alpha not finite");
		if (!isfinite(ac->beta) && !isnan(def_b[ac->kind]))
			return eml_pn_fail(n, EML_ERR_INFER_ATTR, "activation_beta not finite");
	}
	return EML_OK;
}

static eml_err
parse_rnn(const struct eml_node *n, int64_t opset, struct op_par *par)
{
	static const char *const cells[] = { "RNN", "GRU", "LSTM" };
	static const char *const dirs[] = { "forward", "reverse", "bidirectional" };
	struct rnn_par *r = &par->rnn;
	int c = name_index(cells, 3, n->op_type), d = 0;
	bool f = false;

	if (c < 0)
		return eml_pn_fail(n, EML_ERR_INTERNAL, "no recurrent mapping");
	/* Opset < 7 had other inputs (GRU-3's, LSTM-1's output_sequence). */
	EML_GUARD(need_opset(n, opset, 7, "recurrent layer"));
	r->cell = (enum rnn_cell)c;
	r->n_acts = c + 1;
	EML_GUARD(flag(n, "input_forget", false, &f));
	if (f)
		return eml_pn_fail(n, EML_ERR_INFER_ATTR, "input_forget=1 not supported");
	EML_GUARD(flag(n, "linear_before_reset", false, &r->linear_before_reset));
	EML_GUARD(flag(n, "layout", false, &r->layout_batch));
	EML_GUARD(choice(n, "direction", "forward", dirs, 3, &d));
	r->dirs = d == 2 ? 2 : 1;
	r->reverse = d == 1;
	r->has_clip = has_attr(n, "clip");
	EML_GUARD(finite_attr(n, "clip", 1.0f, &r->clip));
	if (r->has_clip && !(r->clip > 0.0f))
		return eml_pn_fail(n, EML_ERR_INFER_ATTR, "clip must be > 0");
	/* ONNX lets hidden_size be inferred from R; we want it written. */
	if (!has_attr(n, "hidden_size"))
		return eml_pn_fail(n, EML_ERR_INFER_ATTR, "hidden_size missing");
	EML_GUARD(int_in(n, "hidden_size", 1, 1, RNN_MAX_HIDDEN, &r->hidden));
	return rnn_acts(n, r);
}

static eml_err
parse_window(const struct eml_node *n, int64_t opset, struct op_par *par)
{
	int64_t dt = 0;

	(void)opset;
	EML_GUARD(int_in(n, "output_datatype", EML_DT_FLOAT, 1, 16, &dt));
	if (dt != EML_DT_FLOAT && dt != EML_DT_DOUBLE)
		return eml_pn_fail(n, EML_ERR_INFER_DTYPE, "output_datatype %lld not supported",
		    (long long)dt);
	par->window.dtype = (enum eml_dtype)dt;
	return flag(n, "periodic", true, &par->window.periodic);
}

static eml_err
parse_lrn(const struct eml_node *n, int64_t opset, struct op_par *par)
{
	struct lrn_par *l = &par->lrn;

	(void)opset;
	if (!has_attr(n, "size"))
		return eml_pn_fail(n, EML_ERR_INFER_ATTR, "size missing");
	EML_GUARD(int_in(n, "size", 1, 1, PAR_MAX_WINDOW, &l->size));
	EML_GUARD(finite_attr(n, "alpha", 1e-4f, &l->alpha));
	EML_GUARD(finite_attr(n, "beta", 0.75f, &l->beta));
	return finite_attr(n, "bias", 1.0f, &l->bias);
}

static eml_err
parse_revseq(const struct eml_node *n, int64_t opset, struct op_par *par)
{
	struct revseq_par *r = &par->revseq;

	(void)opset;
	EML_GUARD(int_in(n, "batch_axis", 1, 0, 1, &r->batch_axis));
	EML_GUARD(int_in(n, "time_axis", 0, 0, 1, &r->time_axis));
	if (r->batch_axis == r->time_axis)
		return eml_pn_fail(n, EML_ERR_INFER_ATTR, "batch_axis equals time_axis");
	return EML_OK;
}

static eml_err
parse_compress(const struct eml_node *n, int64_t opset, struct op_par *par)
{
	(void)opset;
	par->compress.has_axis = has_attr(n, "axis");
	return axis_attr(n, "axis", 0, &par->compress.axis);
}

static eml_err
parse_nms(const struct eml_node *n, int64_t opset, struct op_par *par)
{
	(void)opset;
	return flag(n, "center_point_box", false, &par->nms.center_point_box);
}

static eml_err
parse_einsum(const struct eml_node *n, int64_t opset, struct op_par *par)
{
	const char *eq = attr_str(n, "equation", NULL);

	(void)opset;
	if (eq == NULL)
		return eml_pn_fail(n, EML_ERR_INFER_ATTR, "equation missing");
	if (strlen(eq) > 256)
		return eml_pn_fail(n, EML_ERR_INFER_ATTR, "equation longer than 256");
	for (const char *c = eq; *c != '\0'; c++)
		if (!((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') || *c == ',' ||
		    *c == '.' || *c == '-' || *c == '>' || *c == ' '))
			return eml_pn_fail(n, EML_ERR_INFER_ATTR, "equation: character 0x%02x",
			    (unsigned)(unsigned char)*c);
	par->einsum.equation = eq;
	return EML_OK;
}

static eml_err
parse_gridsample(const struct eml_node *n, int64_t opset, struct op_par *par)
{
	static const char *const modes[] = { "bilinear", "nearest", "bicubic" };
	static const char *const pads[] = { "zeros", "border", "reflection" };
	struct gridsample_par *g = &par->gridsample;
	int m = 0, pd = 0;

	/* GridSample-20 renamed the modes (linear, cubic) and takes N-D. */
	if (opset >= 20)
		return eml_pn_fail(n, EML_ERR_INFER_ATTR, "GridSample-%lld not supported",
		    (long long)opset);
	EML_GUARD(flag(n, "align_corners", false, &g->align_corners));
	EML_GUARD(choice(n, "mode", "bilinear", modes, 3, &m));
	EML_GUARD(choice(n, "padding_mode", "zeros", pads, 3, &pd));
	g->mode = (enum gs_mode)m;
	g->pad = (enum gs_pad)pd;
	return EML_OK;
}

/* RoiAlign: the output size and the sampling grid bound what a run
 * computes (the adaptive grid, sampling_ratio 0, is bounded by the plan
 * against the input). */
static eml_err
parse_roialign(const struct eml_node *n, int64_t opset, struct op_par *par)
{
	static const char *const modes[] = { "avg", "max" };
	static const char *const cts[] = { "output_half_pixel", "half_pixel" };
	struct roialign_par *r = &par->roialign;
	int m = 0, ct = opset >= 16 ? 1 : 0;

	EML_GUARD(choice(n, "mode", "avg", modes, 2, &m));
	if (opset >= 16)
		EML_GUARD(choice(n, "coordinate_transformation_mode", "half_pixel", cts, 2, &ct));
	else if (has_attr(n, "coordinate_transformation_mode"))
		return eml_pn_fail(n, EML_ERR_INFER_ATTR,
		    "coordinate_transformation_mode before opset 16");
	r->is_max = m == 1;
	r->half_pixel = ct == 1;
	EML_GUARD(int_in(n, "output_height", 1, 1, PAR_MAX_WINDOW, &r->out_h));
	EML_GUARD(int_in(n, "output_width", 1, 1, PAR_MAX_WINDOW, &r->out_w));
	EML_GUARD(int_in(n, "sampling_ratio", 0, 0, 256, &r->sampling_ratio));
	EML_GUARD(finite_attr(n, "spatial_scale", 1.0f, &r->spatial_scale));
	if (!(r->spatial_scale > 0.0f))
		return eml_pn_fail(n, EML_ERR_INFER_ATTR, "spatial_scale %g",
		    (double)r->spatial_scale);
	return EML_OK;
}

static eml_err
parse_unique(const struct eml_node *n, int64_t opset, struct op_par *par)
{
	struct unique_par *u = &par->unique;

	(void)opset;
	EML_GUARD(flag(n, "sorted", true, &u->sorted));
	u->has_axis = has_attr(n, "axis");
	return axis_attr(n, "axis", 0, &u->axis);
}

/* DFT and STFT: inverse and onesided flags; DFT-17's axis attribute
 * (DFT-20 takes it as input 2). */
static eml_err
parse_dft(const struct eml_node *n, int64_t opset, struct op_par *par)
{
	struct dft_par *d = &par->dft;
	bool stft = strcmp(n->op_type, "STFT") == 0;

	EML_GUARD(need_opset(n, opset, 17, "(the operator is opset 17)"));
	EML_GUARD(flag(n, "onesided", stft, &d->onesided));
	EML_GUARD(flag(n, "inverse", false, &d->inverse));
	if (d->inverse && d->onesided)
		return eml_pn_fail(n, EML_ERR_INFER_ATTR, "inverse with onesided not supported");
	if (opset >= 20 && has_attr(n, "axis"))
		return eml_pn_fail(n, EML_ERR_INFER_ATTR, "axis attribute after opset 20");
	return axis_attr(n, "axis", 1, &d->axis);
}

/* TfIdfVectorizer over int64 pools: level i of ngram_counts starts the
 * (i + 1)-grams in the pool, each level a whole number of n-grams; one
 * output column per n-gram (ngram_indexes), width bounded by the plan's
 * tensor limit. */
static eml_err
tfidf_pool(const struct eml_node *n, struct tfidf_par *t)
{
	size_t grams = 0;

	for (size_t i = 0; i < t->n_counts; i++) {
		int64_t lo = t->counts[i];
		int64_t hi = i + 1 < t->n_counts ? t->counts[i + 1] : (int64_t)t->n_pool;
		if (lo < 0 || lo > hi || hi > (int64_t)t->n_pool || (hi - lo) % (int64_t)(i + 1) != 0)
			return eml_pn_fail(n, EML_ERR_INFER_ATTR, "ngram_counts[%zu] inconsistent", i);
		grams += (size_t)(hi - lo) / (i + 1);
	}
	if (t->n_counts > 0 && t->counts[0] != 0)
		return eml_pn_fail(n, EML_ERR_INFER_ATTR, "ngram_counts must start at 0");
	if (grams != t->n_indexes)
		return eml_pn_fail(n, EML_ERR_INFER_ATTR, "%zu ngram_indexes for %zu n-grams",
		    t->n_indexes, grams);
	t->width = 0;
	for (size_t i = 0; i < t->n_indexes; i++) {
		if (t->indexes[i] < 0 || t->indexes[i] >= PAR_MAX_PAD)
			return eml_pn_fail(n, EML_ERR_INFER_ATTR, "ngram_indexes[%zu] out of range", i);
		t->width = t->indexes[i] + 1 > t->width ? t->indexes[i] + 1 : t->width;
	}
	if (t->weights != NULL && (int64_t)t->n_weights != t->width)
		return eml_pn_fail(n, EML_ERR_INFER_ATTR, "weights: one per output column");
	for (size_t i = 0; i < t->n_weights; i++)
		if (!isfinite(t->weights[i]))
			return eml_pn_fail(n, EML_ERR_INFER_ATTR, "weights[%zu] not finite", i);
	return EML_OK;
}

static eml_err
parse_tfidf(const struct eml_node *n, int64_t opset, struct op_par *par)
{
	static const char *const modes[] = { "TF", "IDF", "TFIDF" };
	struct tfidf_par *t = &par->tfidf;
	const struct eml_attr *pool = attr_of(n, "pool_int64s", EML_ATTR_INTS);
	const struct eml_attr *cnt = attr_of(n, "ngram_counts", EML_ATTR_INTS);
	const struct eml_attr *idx = attr_of(n, "ngram_indexes", EML_ATTR_INTS);
	const struct eml_attr *w = attr_of(n, "weights", EML_ATTR_FLOATS);
	int m = 0;

	(void)opset;
	if (has_attr(n, "pool_strings"))
		return eml_pn_fail(n, EML_ERR_INFER_DTYPE, "pool_strings: strings not supported");
	if (pool == NULL || cnt == NULL || idx == NULL)
		return eml_pn_fail(n, EML_ERR_INFER_ATTR,
		    "pool_int64s, ngram_counts and ngram_indexes needed");
	EML_GUARD(choice(n, "mode", "TF", modes, 3, &m));
	t->mode = (enum tfidf_mode)m;
	EML_GUARD(int_in(n, "max_gram_length", 1, 1, 64, &t->max_n));
	EML_GUARD(int_in(n, "min_gram_length", 1, 1, t->max_n, &t->min_n));
	EML_GUARD(int_in(n, "max_skip_count", 0, 0, PAR_MAX_WINDOW, &t->max_skip));
	t->pool = pool->ints;
	t->n_pool = pool->n;
	t->counts = cnt->ints;
	t->n_counts = cnt->n;
	t->indexes = idx->ints;
	t->n_indexes = idx->n;
	t->weights = w != NULL ? w->floats : NULL;
	t->n_weights = w != NULL ? w->n : 0;
	return tfidf_pool(n, t);
}

/* The parser of each parameter family. */
typedef eml_err (*par_parser)(const struct eml_node *n, int64_t opset, struct op_par *par);

/* QuantizeLinear / DequantizeLinear: per-tensor or per-axis (opset 13);
 * blocked quantization, float8 saturation and output_dtype (opsets 19-21)
 * only at their defaults. */
static eml_err
parse_quant(const struct eml_node *n, int64_t opset, struct op_par *par)
{
	struct quant_par *q = &par->quant;

	(void)opset;
	if (attr_int(n, "block_size", 0) != 0)
		return eml_pn_fail(n, EML_ERR_INFER_ATTR, "block_size not supported");
	if (attr_int(n, "saturate", 1) != 1)
		return eml_pn_fail(n, EML_ERR_INFER_ATTR, "saturate=0 not supported");
	if (attr_int(n, "output_dtype", 0) != 0)
		return eml_pn_fail(n, EML_ERR_INFER_ATTR, "output_dtype not supported");
	return axis_attr(n, "axis", 1, &q->axis);
}

static const par_parser parsers[PK_COUNT] = {
	[PK_NONE] = parse_none,
	[PK_UNARY] = parse_unary,
	[PK_BINARY] = parse_binary,
	[PK_CAST] = parse_cast,
	[PK_DROPOUT] = parse_dropout,
	[PK_RESHAPE] = parse_reshape,
	[PK_AXIS] = parse_axis,
	[PK_AXES] = parse_axes,
	[PK_SHAPE] = parse_shape,
	[PK_CONSTANT] = parse_constant,
	[PK_CONST_OF_SHAPE] = parse_const_of_shape,
	[PK_SPLIT] = parse_split,
	[PK_SLICE] = parse_slice,
	[PK_TRANSPOSE] = parse_transpose,
	[PK_PAD] = parse_pad,
	[PK_CONV] = parse_conv,
	[PK_GEMM] = parse_gemm,
	[PK_MATMUL] = parse_none,
	[PK_BATCHNORM] = parse_batchnorm,
	[PK_POOL] = parse_pool,
	[PK_GLOBAL_POOL] = parse_global_pool,
	[PK_SOFTMAX] = parse_softmax,
	[PK_REDUCE] = parse_reduce,
	[PK_LAYERNORM] = parse_layernorm,
	[PK_RESIZE] = parse_resize,
	[PK_VARIADIC] = parse_variadic,
	[PK_COMPARE] = parse_compare,
	[PK_MATH] = parse_math,
	[PK_PRELU] = parse_prelu,
	[PK_ARG] = parse_arg,
	[PK_MOD] = parse_mod,
	[PK_TRILU] = parse_trilu,
	[PK_CUMSUM] = parse_cumsum,
	[PK_LOSS] = parse_loss,
	[PK_D2S] = parse_d2s,
	[PK_GATHERND] = parse_gathernd,
	[PK_SCATTER] = parse_scatter,
	[PK_TOPK] = parse_topk,
	[PK_ISINF] = parse_isinf,
	[PK_SHRINK] = parse_shrink,
	[PK_EYELIKE] = parse_eyelike,
	[PK_BITSHIFT] = parse_bitshift,
	[PK_RNN] = parse_rnn,
	[PK_WINDOW] = parse_window,
	[PK_LRN] = parse_lrn,
	[PK_REVSEQ] = parse_revseq,
	[PK_COMPRESS] = parse_compress,
	[PK_NMS] = parse_nms,
	[PK_QUANT] = parse_quant,
	[PK_EINSUM] = parse_einsum,
	[PK_GRIDSAMPLE] = parse_gridsample,
	[PK_ROIALIGN] = parse_roialign,
	[PK_UNIQUE] = parse_unique,
	[PK_DFT] = parse_dft,
	[PK_TFIDF] = parse_tfidf,
};

eml_err
eml_op_parse(const struct op *op, const struct eml_node *n, int64_t opset, struct op_par *par)
{
	memset(par, 0, sizeof(*par));
	par->kind = op->kind;
	EML_GUARD(check_attrs(op, n));
	if ((unsigned)op->kind >= PK_COUNT || parsers[op->kind] == NULL)
		return eml_pn_fail(n, EML_ERR_INTERNAL, "no parameter family");
	return parsers[op->kind](n, opset, par);
}
