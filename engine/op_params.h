/*
 * Typed operator parameters. Every node's attributes are read once, when
 * the model is loaded, by eml_op_parse (op_params.c, the only file that
 * reads attributes): each value is range-checked there and stored by name
 * in the member of struct op_par that its operator family owns. The plan
 * copies that struct into its pnode and adds what depends on the input
 * shapes (the "plan" fields below); prepare and run read both by name.
 *
 * A family's member is valid only when par.kind says so: an operator
 * reads its own family, and code that looks at another node (the fusion
 * pass) checks the kind first.
 */
#ifndef EML_OP_PARAMS_H
#define EML_OP_PARAMS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "eml_err.h"
#include "engine/kernels/eml_kernels.h"
#include "model/eml_graph.h"

/* Which member of struct op_par an operator uses (one per family). */
enum par_kind {
	PK_NONE = 0, /* no parameters (Where, Identity, Expand, Not, Size, Range) */
	PK_UNARY,    /* Relu ... Erf, Clip; HardSwish and GELU from the rewrites */
	PK_BINARY,   /* Add, Sub, Mul, Div, Pow */
	PK_CAST,     /* Cast, CastLike */
	PK_DROPOUT,
	PK_RESHAPE,
	PK_AXIS,     /* one axis: Flatten, Concat, Gather, GatherElements */
	PK_AXES,     /* Squeeze, Unsqueeze (axes attribute before opset 13) */
	PK_SHAPE,
	PK_CONSTANT,
	PK_CONST_OF_SHAPE,
	PK_SPLIT,
	PK_SLICE,
	PK_TRANSPOSE,
	PK_PAD,
	PK_CONV,     /* Conv, ConvTranspose */
	PK_GEMM,
	PK_MATMUL,
	PK_BATCHNORM,
	PK_POOL,     /* MaxPool, AveragePool */
	PK_GLOBAL_POOL,
	PK_SOFTMAX,  /* Softmax, LogSoftmax, Hardmax */
	PK_REDUCE,
	PK_LAYERNORM,
	PK_RESIZE,
	PK_VARIADIC, /* Sum, Mean, Max, Min */
	PK_COMPARE,  /* Equal ... Xor */
	PK_MATH,     /* Floor ... IsNaN */
	PK_PRELU,
	PK_ARG,      /* ArgMax, ArgMin */
	PK_MOD,
	PK_TRILU,
	PK_CUMSUM,
	PK_LOSS,     /* NegativeLogLikelihoodLoss, SoftmaxCrossEntropyLoss */
	PK_D2S,      /* DepthToSpace, SpaceToDepth */
	PK_GATHERND,
	PK_SCATTER,  /* ScatterND, ScatterElements, Scatter */
	PK_TOPK,
	PK_ISINF,
	PK_SHRINK,
	PK_EYELIKE,
	PK_BITSHIFT,
	PK_RNN,      /* RNN, GRU, LSTM */
	PK_WINDOW,   /* HannWindow, HammingWindow, BlackmanWindow */
	PK_LRN,
	PK_REVSEQ,   /* ReverseSequence */
	PK_COMPRESS,
	PK_NMS,      /* NonMaxSuppression */
	PK_QUANT,    /* QuantizeLinear, DequantizeLinear, DynamicQuantizeLinear */
	PK_EINSUM,
	PK_GRIDSAMPLE,
	PK_ROIALIGN,
	PK_UNIQUE,
	PK_DFT,      /* DFT, STFT */
	PK_TFIDF,
	PK_COUNT, /* number of families */
};

/* Largest magnitude accepted for an axis attribute (before the rank is
 * known; the plan checks it against the rank). */
#define PAR_MAX_AXIS EML_MAX_RANK
/* Outputs of Split, and the entries of its split attribute. */
#define PAR_MAX_SPLIT 64
/* Kernel, stride, dilation and pad of a window, and a Pad/Trilu offset. */
#define PAR_MAX_WINDOW 65536
#define PAR_MAX_PAD ((int64_t)1 << 40)

struct unary_par {
	enum eml_unary op;
	float alpha; /* LeakyRelu, HardSigmoid */
	float beta;  /* HardSigmoid */
	float min, max; /* Clip: the attributes, or (opset 11+) the constant inputs */
	/* plan: Clip of an integer or float64 tensor (ops_more.c), its
	 * bounds in the input's type */
	bool generic;
	double dmin, dmax;
	int64_t imin, imax;
	bool rt_min, rt_max; /* bound given at run time (read then) */
};

struct binary_par {
	enum eml_binary op;
	bool legacy;       /* opset < 7: broadcast only with broadcast=1, B to A */
	bool legacy_bcast; /* the broadcast attribute */
	bool generic;      /* plan: other dtypes or mixed Pow, in ops_more.c */
	bool has_axis;     /* opset < 7 axis attribute */
	int64_t axis;
	bool view;         /* plan: B seen as bview (opset < 7 with axis) */
	int64_t bview[EML_MAX_RANK];
};

struct prelu_par {
	bool legacy; /* opset < 7: a slope of one value, or [C] on axis 1 */
	bool chan;   /* plan: legacy per-channel slope on an input of rank > 2 */
	size_t C, inner;
};

struct bitshift_par {
	bool left;
};

struct cast_par {
	enum eml_dtype to; /* Cast; CastLike takes its input 1's dtype */
};

struct dropout_par {
	float ratio; /* in [0, 1); inference drops nothing */
};

struct reshape_par {
	bool allowzero;
};

struct axis_par {
	int64_t axis; /* attribute, in [-PAR_MAX_AXIS, PAR_MAX_AXIS] */
	int ax;       /* plan: normalised against the input rank */
};

struct axes_par {
	size_t n_axes; /* 0 when the attribute is absent */
	int64_t axes[EML_MAX_RANK];
};

struct shape_par {
	int64_t start, end; /* Shape-15 attributes */
	bool has_end;       /* end absent: the rank */
	int64_t first;      /* plan: first dimension copied */
};

struct constant_par {
	const struct eml_attr *value; /* the one value attribute, in the graph */
};

struct const_of_shape_par {
	const struct eml_tensor *value; /* one element, or NULL for float 0 */
};

struct split_par {
	int64_t axis;
	const int64_t *split; /* split attribute (in the graph), NULL when absent */
	size_t n_split;
	bool has_num_outputs; /* Split-18: uneven last part allowed */
	int ax;               /* plan */
};

struct slice_par {
	/* Slice-1 attributes (later opsets take inputs). */
	size_t n_starts, n_ends, n_axes;
	int64_t starts[EML_MAX_RANK], ends[EML_MAX_RANK], axes[EML_MAX_RANK];
	/* plan: per input dimension, first element and step */
	int64_t start[EML_MAX_RANK], step[EML_MAX_RANK];
};

struct transpose_par {
	size_t n_perm; /* 0: reverse the dimensions */
	int64_t perm[EML_MAX_RANK]; /* attribute; the plan fills the default */
};

enum pad_mode { PAD_CONSTANT = 0, PAD_REFLECT, PAD_EDGE };

struct pad_par {
	enum pad_mode mode;
	/* Pad-2 attributes (later opsets take inputs). */
	size_t n_pads;
	int64_t pads[2 * EML_MAX_RANK];
	float value;
	/* plan */
	int64_t begin[EML_MAX_RANK]; /* padding before each dimension */
	float fill_f;                /* constant for float inputs */
	int64_t fill_i;              /* constant for integer inputs */
};

enum auto_pad { AUTO_PAD_NOTSET = 0, AUTO_PAD_SAME_UPPER, AUTO_PAD_SAME_LOWER, AUTO_PAD_VALID };

/* The window attributes of Conv, ConvTranspose and the pools, for one or
 * two spatial axes; a count is 0 when the attribute is absent. */
struct win_attrs {
	enum auto_pad auto_pad;
	size_t n_kernel, n_strides, n_dilations, n_pads;
	int64_t kernel[3], strides[3], dilations[3], pads[6]; /* 3: Conv and pools only */
};

/* A 3-D window (Conv and the pools on 5-D inputs), resolved by the plan. */
struct win3 {
	int64_t in[3], out[3], k[3], s[3], d[3], pb[3];
};

struct conv_par {
	struct win_attrs win;
	int64_t group;
	size_t n_output_padding, n_output_shape; /* ConvTranspose */
	int64_t output_padding[2], output_shape[EML_MAX_RANK];
	/* plan: the geometry, 1-D run as 2-D with H = 1 (ConvTranspose:
	 * pad_bottom/pad_right unused) */
	struct eml_conv2d_params geo;
	size_t out_h, out_w;
	bool const_weights; /* prepare: weights and bias packed in pn->conv */
	bool is3d;          /* 5-D input: im2col + GEMM over three axes */
	struct win3 w3;
	/* QLinearConv chains (eml_qconv_chain): the uint8/int8 image between
	 * two of them is HWC ([N][H][W][C]), not NCHW */
	bool q_in_hwc, q_out_hwc;
};

/* What Gemm does with C. */
enum gemm_c { GEMM_C_NONE = 0, GEMM_C_COL_BIAS, GEMM_C_ROW_BIAS, GEMM_C_FULL };

struct gemm_par {
	float alpha, beta;
	bool trans_a, trans_b;
	bool c_exact; /* opset < 7 without broadcast=1: C must be [M, N] */
	size_t M, N, K; /* plan */
	enum gemm_c c_mode;
};

struct matmul_par {
	/* plan */
	size_t M, N, K;
	size_t n_batch;  /* matrices */
	int batch_rank;
	int64_t batch_dims[EML_MAX_RANK];
	int64_t a_stride[EML_MAX_RANK], b_stride[EML_MAX_RANK]; /* in matrices */
	bool packed_b; /* constant 2-D B packed once: one GEMM over all rows */
	float alpha;   /* 1, or a fused scalar Div/Mul */
};

struct batchnorm_par {
	float epsilon;
};

struct pool_par {
	struct win_attrs win;
	bool ceil_mode, count_include_pad, is_max;
	bool col_major; /* MaxPool storage_order=1: Indices column-major */
	/* plan: 1-D run as 2-D with H = 1 */
	size_t NC, H, W, kh, kw, stride_h, stride_w, dil_h, dil_w, pad_top, pad_left;
	size_t out_h, out_w;
	bool is3d; /* 5-D input: plain loops */
	bool generic; /* plan: MaxPool with Indices or of int8/uint8/double: plain loop */
	int64_t udims[EML_MAX_RANK]; /* plan: MaxUnpool's default output shape */
	struct win3 w3;
};

struct global_pool_par {
	bool is_max;
};

struct softmax_par {
	int64_t axis; /* default by opset */
	bool log;     /* LogSoftmax */
	bool coerce_2d; /* opset < 13: the input is seen as 2-D at axis */
	size_t outer, n, inner; /* plan */
};

enum reduce_kind { RK_SUM = 0, RK_MEAN, RK_MAX, RK_MIN, RK_PROD, RK_L1, RK_L2, RK_SUM_SQUARE,
	RK_LOG_SUM_EXP, RK_LOG_SUM };

struct reduce_par {
	enum reduce_kind kind;
	bool keepdims, noop_with_empty_axes;
	size_t n_axes; /* axes attribute (before opset 18) */
	int64_t axes[EML_MAX_RANK];
	/* plan: rows of n reduced elements; when the reduced axes are not
	 * last, the input is first gathered (permuted) into the workspace */
	size_t rows, n;
	bool transpose;
	int rank;
	int64_t perm_strides[EML_MAX_RANK], perm_dims[EML_MAX_RANK];
};

struct layernorm_par {
	int64_t axis;
	float epsilon;
	size_t rows, n; /* plan */
};

enum resize_coord { RC_HALF_PIXEL = 0, RC_PYTORCH_HALF_PIXEL, RC_ALIGN_CORNERS, RC_ASYMMETRIC,
	RC_TF_HALF_PIXEL_NEAREST, RC_TF_CROP_AND_RESIZE };
enum resize_nearest { RN_ROUND_PREFER_FLOOR = 0, RN_ROUND_PREFER_CEIL, RN_FLOOR, RN_CEIL };

struct resize_par {
	bool linear;
	bool cubic;           /* mode=cubic: 4 taps per axis, edge-replicated */
	float cubic_a;        /* cubic_coeff_a, finite */
	bool exclude_outside; /* taps outside the input weigh 0, renormalised */
	enum resize_coord coord;
	enum resize_nearest nearest;
	bool upsample;        /* Upsample: scales attribute (opset < 9) or input 1 */
	size_t n_attr_scales; /* Upsample-7's scales attribute */
	float extrapolation;  /* tf_crop_and_resize: outside the input */
	float scales[EML_MAX_RANK]; /* Upsample-7: the attribute; plan: per dimension */
	float roi[2 * EML_MAX_RANK]; /* plan: tf_crop_and_resize starts, then ends */
};

enum variadic_kind { VAR_SUM = 0, VAR_MEAN, VAR_MAX, VAR_MIN };

struct variadic_par {
	enum variadic_kind kind;
};

enum compare_kind { CMP_EQ = 0, CMP_LT, CMP_GT, CMP_LE, CMP_GE, CMP_AND, CMP_OR, CMP_XOR };

struct compare_par {
	enum compare_kind kind;
};

enum math_kind { M_FLOOR = 0, M_CEIL, M_ROUND, M_SIGN, M_SIN, M_COS, M_TAN, M_ASIN, M_ACOS,
	M_ATAN, M_SINH, M_COSH, M_ASINH, M_ACOSH, M_ATANH, M_SOFTSIGN, M_SOFTPLUS, M_ELU, M_SELU,
	M_CELU, M_THRELU, M_ISNAN, M_COUNT };

struct math_par {
	enum math_kind kind;
	float alpha; /* Elu, Selu, Celu, ThresholdedRelu */
	float gamma; /* Selu */
};

struct arg_par {
	bool is_max, keepdims, select_last_index;
	int64_t axis;
	size_t outer, n, inner; /* plan */
};

struct mod_par {
	bool fmod;
};

struct trilu_par {
	bool upper;
	int64_t k; /* plan: the diagonal offset (input 1, default 0) */
};

struct cumsum_par {
	bool exclusive, reverse;
	size_t outer, n, inner; /* plan */
};

enum loss_reduction { LOSS_NONE = 0, LOSS_SUM, LOSS_MEAN };

struct loss_par {
	enum loss_reduction reduction;
	bool has_ignore;
	int64_t ignore_index;
	size_t N, C, D; /* plan: [N, C, D] scores, [N, D] targets */
};

struct d2s_par {
	int64_t blocksize; /* in [1, PAR_MAX_WINDOW] */
	bool crd;          /* DepthToSpace mode CRD (else DCR) */
};

struct gathernd_par {
	int64_t batch_dims; /* in [0, EML_MAX_RANK] */
	/* plan */
	size_t batch, n_idx, q, slice; /* batches, index tuples per batch, tuple length, elements per slice */
};

enum scatter_reduction { SCAT_NONE = 0, SCAT_ADD, SCAT_MUL, SCAT_MAX, SCAT_MIN };

struct scatter_par {
	int64_t axis;
	enum scatter_reduction reduction;
	int ax; /* plan */
};

struct topk_par {
	int64_t axis;
	bool largest, sorted;
	/* plan */
	int64_t k;
	size_t outer, n, inner;
};

struct isinf_par {
	bool negative, positive;
};

struct shrink_par {
	float bias, lambd;
};

struct eyelike_par {
	bool has_dtype;
	enum eml_dtype dtype;
	int64_t k; /* in [-PAR_MAX_PAD, PAR_MAX_PAD] */
};

/* The activation functions of the recurrent layers (ONNX's list). */
enum rnn_act_kind { RA_RELU = 0, RA_TANH, RA_SIGMOID, RA_AFFINE, RA_LEAKY_RELU,
	RA_THRESHOLDED_RELU, RA_SCALED_TANH, RA_HARD_SIGMOID, RA_ELU, RA_SOFTSIGN, RA_SOFTPLUS,
	RA_COUNT };

struct rnn_act {
	enum rnn_act_kind kind;
	float alpha, beta;
};

enum rnn_cell { RNN_CELL_RNN = 0, RNN_CELL_GRU, RNN_CELL_LSTM };

/* Most directions, activations per direction, gates of a cell. */
#define RNN_MAX_ACTS 6
#define RNN_MAX_HIDDEN ((int64_t)1 << 20)

struct rnn_par {
	enum rnn_cell cell;
	int64_t hidden;       /* hidden_size, in [1, RNN_MAX_HIDDEN] */
	int dirs;             /* 1 or 2 */
	bool reverse;         /* direction=reverse (dirs == 1) */
	bool has_clip;
	float clip;           /* > 0 */
	bool linear_before_reset; /* GRU */
	bool layout_batch;    /* layout=1: batch first */
	int n_acts;           /* per direction: RNN 1, GRU 2, LSTM 3 */
	struct rnn_act act[RNN_MAX_ACTS]; /* forward's, then reverse's */
	/* plan */
	size_t seq, batch, in, gates;
	size_t ws_gemm; /* GEMM scratch in the workspace, floats */
};

struct window_par {
	enum eml_dtype dtype; /* output_datatype */
	bool periodic;
};

struct lrn_par {
	float alpha, beta, bias;
	int64_t size; /* in [1, PAR_MAX_WINDOW] */
};

struct revseq_par {
	int64_t batch_axis, time_axis; /* 0 and 1, in either order */
};

struct compress_par {
	bool has_axis;
	int64_t axis;
	int ax; /* plan */
};

struct nms_par {
	bool center_point_box;
	/* plan */
	int64_t max_per_class; /* constant input 2 (0 when omitted) */
	size_t capacity;       /* rows of the output's block */
};

enum gs_mode { GS_BILINEAR = 0, GS_NEAREST, GS_BICUBIC };
enum gs_pad { GS_ZEROS = 0, GS_BORDER, GS_REFLECTION };

struct gridsample_par {
	bool align_corners;
	enum gs_mode mode;
	enum gs_pad pad;
};

struct roialign_par {
	bool is_max;       /* mode=max (ONNX Runtime's: the largest weighted corner) */
	bool half_pixel;   /* opset 16's default; opset 10 is output_half_pixel */
	int64_t out_h, out_w, sampling_ratio;
	float spatial_scale;
};

struct unique_par {
	bool sorted;
	bool has_axis;
	int64_t axis;
	/* plan */
	int ax;
	size_t outer, n, inner; /* X seen as [outer, n, inner] (no axis: [1, numel, 1]) */
};

struct dft_par {
	bool onesided, inverse;
	int64_t axis; /* DFT-17's attribute (DFT-20: input 2, read by the plan) */
	/* plan */
	size_t outer, n, inner; /* the signal as [outer, n, inner, 1 or 2] */
	size_t len, bins;       /* transform length, output bins on the axis */
	bool cplx;              /* complex input (last dimension 2) */
	size_t step, frames;    /* STFT */
};

enum tfidf_mode { TFIDF_TF = 0, TFIDF_IDF, TFIDF_TFIDF };

/* TfIdfVectorizer: the pool and its maps stay in the graph's attributes
 * (checked at load: levels, counts and indexes consistent). */
struct tfidf_par {
	enum tfidf_mode mode;
	int64_t min_n, max_n, max_skip;
	const int64_t *pool, *counts, *indexes;
	const float *weights; /* per output column, or NULL */
	size_t n_pool, n_counts, n_indexes, n_weights;
	int64_t width; /* max(ngram_indexes) + 1 */
};

/* Einsum: labels 0..51 are letters, 52.. the dimensions of the ellipsis. */
#define EINSUM_MAX_IN 8
#define EINSUM_MAX_LABELS (52 + EML_MAX_RANK)

struct einsum_par {
	const char *equation; /* the attribute, in the graph; checked characters */
	/* plan: per input and the output, the label of each dimension */
	/* Labels (< EINSUM_MAX_LABELS) as bytes: this was the largest
	 * member of struct op_par, which every node of every per-request
	 * plan copies, and its parse clears. */
	int n_in;
	int8_t in_labels[EINSUM_MAX_IN][EML_MAX_RANK];
	int out_rank;
	int8_t out_labels[EML_MAX_RANK];
	int n_labels;                      /* labels used */
	int64_t size[EINSUM_MAX_LABELS];   /* per label */
	int8_t used[EINSUM_MAX_LABELS];    /* compact index -> label */
};

struct quant_par {
	int64_t axis; /* per-axis scales; in [-PAR_MAX_AXIS, PAR_MAX_AXIS] */
	/* plan: x as [outer][nch][inner], scale/zero point index = channel */
	size_t outer, nch, inner;
};

struct op_par {
	enum par_kind kind;
	union {
		struct unary_par unary;
		struct binary_par binary;
		struct cast_par cast;
		struct dropout_par dropout;
		struct reshape_par reshape;
		struct axis_par axis;
		struct axes_par axes;
		struct shape_par shape;
		struct constant_par constant;
		struct const_of_shape_par const_of_shape;
		struct split_par split;
		struct slice_par slice;
		struct transpose_par transpose;
		struct pad_par pad;
		struct conv_par conv;
		struct gemm_par gemm;
		struct matmul_par matmul;
		struct batchnorm_par batchnorm;
		struct pool_par pool;
		struct global_pool_par global_pool;
		struct softmax_par softmax;
		struct reduce_par reduce;
		struct layernorm_par layernorm;
		struct resize_par resize;
		struct variadic_par variadic;
		struct compare_par compare;
		struct math_par math;
		struct arg_par arg;
		struct mod_par mod;
		struct trilu_par trilu;
		struct cumsum_par cumsum;
		struct loss_par loss;
		struct d2s_par d2s;
		struct gathernd_par gathernd;
		struct scatter_par scatter;
		struct topk_par topk;
		struct isinf_par isinf;
		struct shrink_par shrink;
		struct eyelike_par eyelike;
		struct prelu_par prelu;
		struct bitshift_par bitshift;
		struct rnn_par rnn;
		struct window_par window;
		struct lrn_par lrn;
		struct revseq_par revseq;
		struct compress_par compress;
		struct nms_par nms;
		struct quant_par quant;
		struct einsum_par einsum;
		struct gridsample_par gridsample;
		struct roialign_par roialign;
		struct unique_par unique;
		struct dft_par dft;
		struct tfidf_par tfidf;
	};
};

struct op;

/*
 * Check node n against op (attribute names and types, the node's form at
 * this opset) and read every attribute into *par, range-checked.
 * EML_ERR_INFER_ATTR or EML_ERR_INFER_DTYPE with a detail naming the node.
 */
eml_err eml_op_parse(const struct op *op, const struct eml_node *n, int64_t opset,
    struct op_par *par) EML_MUST_USE;

#endif
