#include "model/eml_onnx_tensor.h"

#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "eml_file.h"
#include "eml_io.h"
#include "eml_mem.h"
#include "common/eml_names.h"
#include "proto/onnx.pb-c.h"

/*
 * protobuf-c allocator: through eml_alloc, and wiping on free because an
 * unpacked model holds copies of the weights. The size is kept in a
 * 16-byte header so that the free can wipe it.
 *
 * A value of PB_BIG bytes or more (the raw_data of a weight) is instead a
 * secure block of its own, where an imported tensor keeps its values:
 * eml_onnx_tensor_from_proto takes it (pb_take) rather than copying tens
 * of megabytes once more (issue 16). Such blocks have no header; a small
 * per-thread table knows them, and a taken block is left to the tensor
 * when protobuf-c frees the message. With the table full, large values
 * take the copying path. With an arena in use (eml_arena_use) a secure
 * block costs a few header words, and PB_BIG_ARENA bytes are large: the
 * demo model's weights are a few hundred Constant tensors of 1-64 KiB,
 * copied from fresh heap pages into the arena (issue 16).
 */
#define PB_BIG ((size_t)64 << 10)
#define PB_BIG_ARENA ((size_t)1 << 10)
#define PB_SLOTS 1024u /* a power of two */

struct pb_slot {
	void *p;
	bool taken;
};

/* PB_SLOTS entries while a large value is live, from the heap: as a
 * thread-local array it was 16 KiB of static TLS that every thread of
 * every program linking this file had zeroed at its start, and four page
 * faults at the start of every eml command (issue 16). */
static _Thread_local struct pb_slot *pb_big;
static _Thread_local size_t pb_live;

static size_t
pb_slot_of(const void *p)
{
	uint64_t h = (uint64_t)((uintptr_t)p >> 6) * 0x9E3779B97F4A7C15ull;

	return (size_t)(h >> 54); /* 10 bits: PB_SLOTS */
}

static struct pb_slot *
pb_find(const void *p)
{
	if (pb_live == 0 || p == NULL)
		return NULL;
	for (size_t i = pb_slot_of(p); pb_big[i].p != NULL; i = (i + 1) & (PB_SLOTS - 1))
		if (pb_big[i].p == p)
			return &pb_big[i];
	return NULL;
}

static bool
pb_put(void *p)
{
	size_t i;

	if (pb_live >= PB_SLOTS / 4 * 3 || pb_find(p) != NULL)
		return false;
	if (pb_big == NULL && (pb_big = eml_calloc(PB_SLOTS, sizeof(*pb_big))) == NULL)
		return false;
	for (i = pb_slot_of(p); pb_big[i].p != NULL; i = (i + 1) & (PB_SLOTS - 1))
		;
	pb_big[i].p = p;
	pb_big[i].taken = false;
	pb_live++;
	return true;
}

/* Linear probing, deletion by shifting back the entries after it. */
static void
pb_del(struct pb_slot *s)
{
	size_t i = (size_t)(s - pb_big);

	pb_big[i].p = NULL;
	pb_live--;
	for (size_t j = (i + 1) & (PB_SLOTS - 1); pb_big[j].p != NULL; j = (j + 1) & (PB_SLOTS - 1)) {
		size_t k = pb_slot_of(pb_big[j].p);
		bool stays = i <= j ? (i < k && k <= j) : (i < k || k <= j);

		if (stays)
			continue;
		pb_big[i] = pb_big[j];
		pb_big[j].p = NULL;
		i = j;
	}
	if (pb_live == 0) {
		eml_free(pb_big);
		pb_big = NULL;
	}
}

/* Whether p is a large value block not yet taken; it is the caller's now
 * (eml_secure_free). */
static bool
pb_take(const void *p)
{
	struct pb_slot *s = pb_find(p);

	if (s == NULL || s->taken)
		return false;
	s->taken = true;
	return true;
}

/* The size from which a value is a secure block of its own. */
static size_t
pb_big_min(void)
{
	return eml_arena_current() != NULL ? PB_BIG_ARENA : PB_BIG;
}

/* Small values of one message unpacked through eml_onnx_pb_arena_init
 * come from a region (eml_graph.h): nothing freed one by one, every
 * handed-out byte wiped when the arena is released. An ONNX model unpacks
 * into thousands of small structs, strings and arrays (the demo model
 * ~5,700): one malloc, one wipe and one free each, and the frees filled
 * malloc's fast bins, which the next large request then consolidated
 * (issue 16). */
#define PB_FIRST_BLOCK_MIN ((size_t)16 << 10)

static void *
pb_alloc(void *data, size_t n)
{
	size_t total;
	uint8_t *p;

	if (n >= pb_big_min()) {
		p = eml_secure_alloc(n);
		if (p != NULL && pb_put(p))
			return p;
		eml_secure_free(p);
	}
	if (data != NULL)
		return eml_region_alloc(((struct eml_onnx_pb_arena *)data)->r, n);
	if (eml_add_overflow(n, (size_t)16, &total))
		return NULL;
	p = eml_alloc(total);
	if (p == NULL)
		return NULL;
	EML_MEMCPY(p, &n, sizeof(n));
	return p + 16;
}

static void
pb_free(void *data, void *ptr)
{
	struct pb_slot *s;
	uint8_t *p;
	size_t n = 0;

	if (ptr == NULL)
		return;
	if ((s = pb_find(ptr)) != NULL) {
		bool taken = s->taken;

		pb_del(s);
		if (!taken)
			eml_secure_free(ptr);
		return;
	}
	if (data != NULL)
		return; /* in the arena: released whole */
	p = (uint8_t *)ptr - 16;
	EML_MEMCPY(&n, p, sizeof(n));
	eml_free_wipe(p, n + 16);
}

eml_err
eml_onnx_pb_arena_init(struct eml_onnx_pb_arena *a, ProtobufCAllocator *al, size_t wire)
{
	a->r = eml_region_new(wire < PB_FIRST_BLOCK_MIN ? PB_FIRST_BLOCK_MIN : wire);
	al->alloc = pb_alloc;
	al->free = pb_free;
	al->allocator_data = a;
	return a->r != NULL ? EML_OK : EML_ERR_NOMEM;
}

void
eml_onnx_pb_arena_release(struct eml_onnx_pb_arena *a)
{
	eml_region_free(a->r);
	a->r = NULL;
}

ProtobufCAllocator eml_onnx_pb_allocator = { pb_alloc, pb_free, NULL };

/* ---------------------------------------------------------------- tensors */

eml_err
eml_onnx_check_name(const char *s, bool allow_empty, const char *what)
{
	size_t n;

	if (s == NULL || s[0] == '\0') {
		if (allow_empty)
			return EML_OK;
		eml_err_set_detail("%s has no name", what);
		EML_BAIL(EML_ERR_ONNX_NAME);
	}
	n = strnlen(s, EML_ONNX_MAX_NAME + 1);
	if (n > EML_ONNX_MAX_NAME) {
		eml_err_set_detail("%s: name longer than %d bytes", what, EML_ONNX_MAX_NAME);
		EML_BAIL(EML_ERR_ONNX_NAME);
	}
	return EML_OK;
}

bool
eml_onnx_dtype_storable(int32_t dt)
{
	switch (dt) {
	case EML_DT_FLOAT:
	case EML_DT_UINT8:
	case EML_DT_INT8:
	case EML_DT_UINT16:
	case EML_DT_INT16:
	case EML_DT_INT32:
	case EML_DT_INT64:
	case EML_DT_BOOL:
	case EML_DT_FLOAT16:
	case EML_DT_BFLOAT16:
	case EML_DT_DOUBLE:
	case EML_DT_UINT32:
	case EML_DT_UINT64:
		return true;
	default:
		return false;
	}
}

/* Store an integer from int32_data into an element of a narrower type
 * (ONNX keeps int8/16, uint8/16, bool and float16 bits in int32_data). */
static void
store_narrow(enum eml_dtype dt, uint8_t *dst, size_t i, int32_t v)
{
	switch (eml_dtype_size(dt)) {
	case 1: {
		uint8_t b = (uint8_t)(uint32_t)v;
		dst[i] = b;
		break;
	}
	case 2: {
		uint16_t h = (uint16_t)(uint32_t)v;
		EML_MEMCPY(dst + 2 * i, &h, 2);
		break;
	}
	default:
		EML_MEMCPY(dst + 4 * i, &v, 4);
		break;
	}
}

/* Storage, type and shape: no external data, a storable type, a rank and
 * dimensions within bounds, a size within EML_ONNX_TENSOR_MAX_BYTES. Fills
 * t's rank and dims. */
static eml_err
tp_check_shape(const Emlonnx__TensorProto *tp, struct eml_tensor *t, const char *what,
    size_t *numel, size_t *nbytes)
{
	size_t n = 1;

	if (tp->n_external_data != 0 || (tp->has_data_location && tp->data_location != 0)) {
		eml_err_set_detail("%s: external data", what);
		EML_BAIL(EML_ERR_ONNX_EXTERNAL);
	}
	if (!tp->has_data_type || !eml_onnx_dtype_storable(tp->data_type)) {
		eml_err_set_detail("%s: data type %d", what, tp->has_data_type ? tp->data_type : 0);
		EML_BAIL(EML_ERR_ONNX_DTYPE);
	}
	if (tp->n_dims > EML_MAX_RANK) {
		eml_err_set_detail("%s: rank %zu above %d", what, tp->n_dims, EML_MAX_RANK);
		EML_BAIL(EML_ERR_ONNX_DIMS);
	}
	for (size_t i = 0; i < tp->n_dims; i++) {
		if (tp->dims[i] < 0 || tp->dims[i] > EML_ONNX_MAX_DIM ||
		    eml_mul_overflow(n, (size_t)tp->dims[i], &n)) {
			eml_err_set_detail("%s: dimension %zu is %lld", what, i,
			    (long long)tp->dims[i]);
			EML_BAIL(EML_ERR_ONNX_DIMS);
		}
		t->dims[i] = tp->dims[i];
	}
	t->rank = (int)tp->n_dims;
	if (eml_mul_overflow(n, eml_dtype_size((enum eml_dtype)tp->data_type), nbytes) ||
	    *nbytes > EML_ONNX_TENSOR_MAX_BYTES) {
		eml_err_set_detail("%s: tensor above %zu bytes", what, EML_ONNX_TENSOR_MAX_BYTES);
		EML_BAIL(EML_ERR_ONNX_DIMS);
	}
	*numel = n;
	return EML_OK;
}

/* How many values the typed field of dt holds (onnx.proto: uint32 and
 * uint64 in uint64_data; int32 and narrower, bool and float16 in
 * int32_data). */
static size_t
tp_typed_count(const Emlonnx__TensorProto *tp, enum eml_dtype dt)
{
	switch (dt) {
	case EML_DT_FLOAT:
		return tp->n_float_data;
	case EML_DT_INT64:
		return tp->n_int64_data;
	case EML_DT_DOUBLE:
		return tp->n_double_data;
	case EML_DT_UINT32:
	case EML_DT_UINT64:
		return tp->n_uint64_data;
	default:
		return tp->n_int32_data;
	}
}

/* The data must be there before anything is allocated: a few bytes
 * declaring a 2 GiB tensor must not cost 2 GiB. */
static eml_err
tp_check_present(const Emlonnx__TensorProto *tp, enum eml_dtype dt, size_t numel, size_t nbytes,
    const char *what)
{
	if (tp->has_raw_data && tp->raw_data.len != nbytes) {
		eml_err_set_detail("%s: raw_data has %zu bytes, shape needs %zu", what,
		    tp->raw_data.len, nbytes);
		EML_BAIL(EML_ERR_ONNX_DATA);
	}
	if (!tp->has_raw_data && tp_typed_count(tp, dt) != numel) {
		eml_err_set_detail("%s: %zu values for %zu elements", what, tp_typed_count(tp, dt),
		    numel);
		EML_BAIL(EML_ERR_ONNX_DATA);
	}
	return EML_OK;
}

/* The values into data (nbytes, zeroed), from raw_data or the typed field;
 * tp_check_present has checked the counts. */
static void
tp_copy_values(const Emlonnx__TensorProto *tp, enum eml_dtype dt, size_t numel, size_t nbytes,
    uint8_t *data)
{
	/* onnx.proto: raw_data holds the values "in the same representation
	 * as the in-memory value", little-endian. */
	if (tp->has_raw_data) {
		EML_MEMCPY(data, tp->raw_data.data, nbytes);
		return;
	}
	switch (dt) {
	case EML_DT_FLOAT:
		EML_MEMCPY(data, tp->float_data, nbytes);
		break;
	case EML_DT_INT64:
		EML_MEMCPY(data, tp->int64_data, nbytes);
		break;
	case EML_DT_DOUBLE:
		EML_MEMCPY(data, tp->double_data, nbytes);
		break;
	case EML_DT_UINT32:
		for (size_t i = 0; i < numel; i++) {
			uint32_t v = (uint32_t)tp->uint64_data[i];
			EML_MEMCPY(data + 4 * i, &v, 4);
		}
		break;
	case EML_DT_UINT64:
		EML_MEMCPY(data, tp->uint64_data, nbytes);
		break;
	default: /* int32 and narrower, bool, float16 */
		for (size_t i = 0; i < numel; i++)
			store_narrow(dt, data, i, tp->int32_data[i]);
		break;
	}
}

eml_err
eml_onnx_tensor_from_proto(const Emlonnx__TensorProto *tp, struct eml_tensor *t, const char *what)
{
	return eml_onnx_tensor_from_proto_in(tp, t, what, NULL);
}

eml_err
eml_onnx_tensor_from_proto_in(const Emlonnx__TensorProto *tp, struct eml_tensor *t,
    const char *what, struct eml_region *r)
{
	eml_err rc = EML_ERR_INTERNAL;
	size_t numel = 0, nbytes = 0;
	enum eml_dtype dt;
	uint8_t *data = NULL;

	memset(t, 0, sizeof(*t));
	if ((rc = tp_check_shape(tp, t, what, &numel, &nbytes)) != EML_OK)
		goto out;
	dt = (enum eml_dtype)tp->data_type;
	if ((rc = tp_check_present(tp, dt, numel, nbytes, what)) != EML_OK)
		goto out;
	if (tp->has_raw_data && pb_take(tp->raw_data.data)) {
		data = tp->raw_data.data; /* a secure block already (pb_alloc) */
	} else {
		/* zeroed by eml_secure_alloc: not again, a model's weights
		 * are tens of megabytes */
		data = eml_secure_alloc(nbytes == 0 ? 1 : nbytes);
		if (data == NULL)
			EML_FAIL(rc, EML_ERR_NOMEM);
		tp_copy_values(tp, dt, numel, nbytes, data);
	}
	if (tp->name != NULL && tp->name[0] != '\0') {
		size_t n;

		if (eml_onnx_check_name(tp->name, false, what) != EML_OK)
			EML_FAIL(rc, EML_ERR_ONNX_NAME);
		n = strlen(tp->name) + 1;
		/* the name last: nothing fails after it (a region's is not
		 * freed alone) */
		t->name = r != NULL ? eml_region_alloc(r, n) : eml_alloc(n);
		if (t->name == NULL)
			EML_FAIL(rc, EML_ERR_NOMEM);
		EML_MEMCPY(t->name, tp->name, n);
	}
	t->dtype = dt;
	t->data = data;
	data = NULL; /* transferred */
	t->nbytes = nbytes;
	t->owned = true;
	rc = EML_OK;
out:
	if (data != NULL)
		eml_secure_free(data);
	if (rc != EML_OK)
		eml_tensor_clear(t);
	return rc;
}

eml_err
eml_onnx_tensor_read(const uint8_t *bytes, size_t len, struct eml_tensor *out)
{
	eml_err rc = EML_ERR_INTERNAL;
	Emlonnx__TensorProto *tp = NULL;

	EML_ENSURE(out != NULL && (bytes != NULL || len == 0), EML_ERR_NULL);
	memset(out, 0, sizeof(*out));
	if (len > EML_ONNX_MAX_BYTES)
		EML_FAIL(rc, EML_ERR_ONNX_TOO_LARGE);
	tp = emlonnx__tensor_proto__unpack(&eml_onnx_pb_allocator, len, bytes);
	if (tp == NULL) {
		eml_err_set_detail("TensorProto does not decode");
		EML_FAIL(rc, EML_ERR_ONNX_DECODE);
	}
	rc = eml_onnx_tensor_from_proto(tp, out, "tensor");
	if (rc != EML_OK)
		goto out;
	rc = EML_OK;
out:
	if (tp != NULL)
		emlonnx__tensor_proto__free_unpacked(tp, &eml_onnx_pb_allocator);
	return rc;
}

eml_err
eml_onnx_tensor_read_file(const char *path, struct eml_tensor *out)
{
	eml_err rc = EML_ERR_INTERNAL;
	uint8_t *bytes = NULL;
	size_t len = 0;
	/* into the arena when one is in use (eml_onnx_import_file) */
	unsigned flags = eml_arena_current() != NULL ? EML_FILE_SECRET : 0;

	rc = eml_file_read(path, EML_ONNX_MAX_BYTES, flags, &bytes, &len);
	if (rc == EML_ERR_FILE_TOO_LARGE)
		rc = EML_ERR_ONNX_TOO_LARGE;
	if (rc != EML_OK)
		goto out;
	rc = eml_onnx_tensor_read(bytes, len, out);
out:
	eml_file_free(bytes, len, flags);
	return rc;
}

eml_err
eml_onnx_tensor_write(const struct eml_tensor *t, struct eml_buf *out)
{
	eml_err rc = EML_ERR_INTERNAL;
	Emlonnx__TensorProto tp = EMLONNX__TENSOR_PROTO__INIT;
	int64_t dims[EML_MAX_RANK];
	size_t numel = 0, need, nbytes;
	uint8_t *where = NULL;

	EML_ENSURE(t != NULL && out != NULL, EML_ERR_NULL);
	EML_ENSURE(t->rank >= 0 && t->rank <= EML_MAX_RANK, EML_ERR_ONNX_DIMS);
	EML_GUARD(eml_tensor_numel(t, &numel));
	EML_ENSURE(eml_onnx_dtype_storable((int32_t)t->dtype), EML_ERR_ONNX_DTYPE);
	EML_ENSURE(!eml_mul_overflow(numel, eml_dtype_size(t->dtype), &nbytes) &&
	    nbytes == t->nbytes && (nbytes == 0 || t->data != NULL), EML_ERR_ONNX_DATA);
	for (int i = 0; i < t->rank; i++)
		dims[i] = t->dims[i];
	tp.n_dims = (size_t)t->rank;
	tp.dims = dims;
	tp.has_data_type = 1;
	tp.data_type = (int32_t)t->dtype;
	tp.name = t->name;
	tp.has_raw_data = 1;
	tp.raw_data.len = nbytes;
	tp.raw_data.data = t->data;
	need = emlonnx__tensor_proto__get_packed_size(&tp);
	rc = eml_buf_extend(out, need, &where);
	if (rc != EML_OK)
		goto out;
	if (emlonnx__tensor_proto__pack(&tp, where) != need)
		EML_FAIL(rc, EML_ERR_INTERNAL);
	rc = EML_OK;
out:
	return rc;
}

/* Write n bytes to path atomically: a temporary file beside it, fsync,
 * rename over path, fsync of the directory. On any failure the temporary
 * file is removed and path is untouched: a full disk leaves no empty or
 * partial output behind. */
static eml_err
write_atomic(const char *path, const uint8_t *p, size_t n)
{
	static atomic_uint counter;
	eml_err rc = EML_ERR_INTERNAL;
	char tmp[4096], dir[4096];
	const char *slash;
	int fd = -1, dfd = -1, k;

	k = snprintf(tmp, sizeof(tmp), "%s.tmp-%ld-%u", path, (long)getpid(),
	    atomic_fetch_add(&counter, 1));
	if (k < 0 || (size_t)k >= sizeof(tmp)) {
		eml_err_set_detail("%s: path too long", path);
		EML_BAIL(EML_ERR_FILE);
	}
	fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0666);
	if (fd < 0) {
		eml_err_set_detail("%s: %s", path, strerror(errno));
		EML_BAIL(EML_ERR_FILE);
	}
	if (eml_io_write_full(fd, p, n, EML_DEADLINE_NONE) != EML_OK) {
		eml_err_set_detail("%s: write: %s", path, strerror(errno));
		EML_FAIL(rc, EML_ERR_FILE);
	}
	if (fsync(fd) != 0) {
		eml_err_set_detail("%s: fsync: %s", path, strerror(errno));
		EML_FAIL(rc, EML_ERR_FILE);
	}
	k = close(fd);
	fd = -1;
	if (k != 0) {
		eml_err_set_detail("%s: close: %s", path, strerror(errno));
		EML_FAIL(rc, EML_ERR_FILE);
	}
	if (rename(tmp, path) != 0) {
		eml_err_set_detail("%s: rename: %s", path, strerror(errno));
		EML_FAIL(rc, EML_ERR_FILE);
	}
	tmp[0] = '\0'; /* renamed: nothing to remove */
	slash = strrchr(path, '/');
	(void)snprintf(dir, sizeof(dir), "%.*s", slash == NULL ? 1 : (int)(slash - path + (slash == path)),
	    slash == NULL ? "." : path);
	dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd >= 0) {
		(void)fsync(dfd);
		(void)close(dfd);
	}
	rc = EML_OK;
out:
	if (fd >= 0)
		(void)close(fd);
	if (rc != EML_OK && tmp[0] != '\0')
		(void)unlink(tmp);
	return rc;
}

eml_err
eml_onnx_tensor_write_file(const struct eml_tensor *t, const char *path)
{
	eml_err rc = EML_ERR_INTERNAL;
	struct eml_buf b;

	eml_buf_init(&b, EML_ONNX_MAX_BYTES);
	EML_ENSURE(path != NULL, EML_ERR_NULL);
	rc = eml_onnx_tensor_write(t, &b);
	if (rc == EML_OK)
		rc = write_atomic(path, b.data, b.len);
	eml_buf_free(&b);
	return rc;
}

