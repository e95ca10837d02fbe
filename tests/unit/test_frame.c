/* Framing: length rules, in-memory decoder, fd I/O with deadlines, EINTR
 * and short transfers. */
#include "eml_test.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "eml_buf.h"
#include "eml_frame.h"
#include "eml_io.h"
#include "eml_mem.h"

static void
sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
	}
}

static void
check_len_boundaries(void **state)
{
	(void)state;
	assert_eml(eml_frame_check_len(0, 100), EML_ERR_PROTO_ZERO_LENGTH);
	assert_eml_ok(eml_frame_check_len(1, 100));
	assert_eml_ok(eml_frame_check_len(100, 100));
	assert_eml(eml_frame_check_len(101, 100), EML_ERR_PROTO_TOO_LARGE);
	assert_eml_ok(eml_frame_check_len(64u << 20, EML_FRAME_MAX_DEFAULT));
	assert_eml(eml_frame_check_len((64u << 20) + 1, EML_FRAME_MAX_DEFAULT), EML_ERR_PROTO_TOO_LARGE);
	assert_eml(eml_frame_check_len(UINT32_MAX, EML_FRAME_MAX_DEFAULT), EML_ERR_PROTO_TOO_LARGE);
	/* A maximum above what 4 bytes can say is clamped, never wrapped. */
	assert_eml_ok(eml_frame_check_len(UINT32_MAX, SIZE_MAX));
	assert_eml(eml_frame_check_len((uint64_t)UINT32_MAX + 1, SIZE_MAX), EML_ERR_PROTO_TOO_LARGE);
}

static void
encode_decode_known_bytes(void **state)
{
	static const uint8_t want[] = { 0, 0, 0, 3, 'a', 'b', 'c', 0, 0, 1, 0 };
	struct eml_buf b;
	struct eml_cur in, body, before;
	uint8_t big[256];

	(void)state;
	memset(big, 0x11, sizeof(big));
	eml_buf_init(&b, 1024);
	assert_eml_ok(eml_frame_encode(&b, (const uint8_t *)"abc", 3, 100));
	assert_int_equal(b.len, 7);
	assert_memory_equal(b.data, want, 7);
	assert_eml(eml_frame_encode(&b, big, 0, 100), EML_ERR_PROTO_ZERO_LENGTH);
	assert_eml(eml_frame_encode(&b, big, 101, 100), EML_ERR_PROTO_TOO_LARGE);
	assert_int_equal(b.len, 7);
	assert_eml_ok(eml_frame_encode(&b, big, 256, 256));
	assert_int_equal(b.len, 7 + 4 + 256);
	assert_memory_equal(b.data + 7, want + 7, 4);

	in = eml_buf_cur(&b);
	assert_eml_ok(eml_frame_decode(&in, 256, &body));
	assert_int_equal(body.left, 3);
	assert_memory_equal(body.p, "abc", 3);
	/* The second frame is above a smaller limit: rejected, cursor kept. */
	before = in;
	assert_eml(eml_frame_decode(&in, 255, &body), EML_ERR_PROTO_TOO_LARGE);
	assert_ptr_equal(in.p, before.p);
	assert_int_equal(in.left, before.left);
	assert_eml_ok(eml_frame_decode(&in, 256, &body));
	assert_int_equal(body.left, 256);
	assert_eml_ok(eml_cur_expect_end(&in));
	eml_buf_free(&b);
}

static void
decode_rejects_bad_input(void **state)
{
	static const uint8_t zero[] = { 0, 0, 0, 0, 'x' };
	static const uint8_t huge[] = { 0xff, 0xff, 0xff, 0xff, 'x' };
	static const uint8_t over[] = { 0, 0, 0, 9, 1, 2, 3, 4, 5, 6, 7, 8, 9 };
	static const uint8_t trailing[] = { 0, 0, 0, 2, 'h', 'i', 0 };
	struct eml_cur in, body;

	(void)state;
	in = eml_cur_make(zero, sizeof(zero));
	assert_eml(eml_frame_decode(&in, 100, &body), EML_ERR_PROTO_ZERO_LENGTH);
	assert_int_equal(in.left, sizeof(zero));
	in = eml_cur_make(huge, sizeof(huge));
	assert_eml(eml_frame_decode(&in, EML_FRAME_MAX_DEFAULT, &body), EML_ERR_PROTO_TOO_LARGE);
	in = eml_cur_make(over, sizeof(over));
	assert_eml(eml_frame_decode(&in, 8, &body), EML_ERR_PROTO_TOO_LARGE);
	assert_eml_ok(eml_frame_decode(&in, 9, &body));
	/* Every truncation of a valid frame: header or body. */
	for (size_t cut = 0; cut < sizeof(over); cut++) {
		in = eml_cur_make(over, cut);
		assert_eml(eml_frame_decode(&in, 100, &body), EML_ERR_PROTO_TRUNCATED);
		assert_int_equal(in.left, cut);
	}
	/* Trailing bytes stay in the cursor and are visible to the caller. */
	in = eml_cur_make(trailing, sizeof(trailing));
	assert_eml_ok(eml_frame_decode(&in, 100, &body));
	assert_int_equal(body.left, 2);
	assert_eml(eml_cur_expect_end(&in), EML_ERR_PROTO_TRAILING);
	assert_eml(eml_frame_decode(&in, 100, &body), EML_ERR_PROTO_TRUNCATED);
}

static void
pair(int sv[2])
{
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
}

static void
fd_round_trip_and_boundaries(void **state)
{
	int sv[2];
	struct eml_buf in;
	uint8_t body[1000];
	int64_t dl = eml_deadline_in_ms(5000);

	(void)state;
	for (size_t i = 0; i < sizeof(body); i++)
		body[i] = (uint8_t)(i * 13 + 1);
	pair(sv);
	eml_buf_init(&in, 4096);
	assert_eml_ok(eml_frame_write(sv[0], body, sizeof(body), 4096, dl));
	assert_eml_ok(eml_frame_write(sv[0], body, 1, 4096, dl));
	assert_eml_ok(eml_frame_read(sv[1], 4096, dl, &in));
	assert_int_equal(in.len, sizeof(body));
	assert_memory_equal(in.data, body, sizeof(body));
	assert_eml_ok(eml_frame_read(sv[1], 4096, dl, &in));
	assert_int_equal(in.len, 1);
	assert_int_equal(in.data[0], body[0]);
	/* Writer refuses bad lengths before writing anything. */
	assert_eml(eml_frame_write(sv[0], body, 0, 4096, dl), EML_ERR_PROTO_ZERO_LENGTH);
	assert_eml(eml_frame_write(sv[0], body, sizeof(body), 999, dl), EML_ERR_PROTO_TOO_LARGE);
	/* EOF exactly at a frame boundary. */
	close(sv[0]);
	assert_eml(eml_frame_read(sv[1], 4096, dl, &in), EML_ERR_IO_EOF);
	assert_int_equal(in.len, 0);
	close(sv[1]);
	eml_buf_free(&in);
}

/* Zero and over-limit lengths are refused from the header alone: the
 * buffer has not allocated a byte. */
static void
fd_bad_lengths_before_allocation(void **state)
{
	static const uint8_t zero[] = { 0, 0, 0, 0 };
	static const uint8_t big[] = { 0x04, 0x00, 0x00, 0x01 }; /* 64 MiB + 1 */
	static const uint8_t mid[] = { 0x00, 0x00, 0x10, 0x00 }; /* 4096 */
	int sv[2];
	struct eml_buf in;
	int64_t dl = eml_deadline_in_ms(5000);

	(void)state;
	eml_buf_init(&in, EML_FRAME_MAX_DEFAULT);
	pair(sv);
	assert_eml_ok(eml_io_write_full(sv[0], zero, 4, dl));
	assert_eml(eml_frame_read(sv[1], EML_FRAME_MAX_DEFAULT, dl, &in), EML_ERR_PROTO_ZERO_LENGTH);
	assert_null(in.data);
	assert_eml_ok(eml_io_write_full(sv[0], big, 4, dl));
	assert_eml(eml_frame_read(sv[1], EML_FRAME_MAX_DEFAULT, dl, &in), EML_ERR_PROTO_TOO_LARGE);
	assert_null(in.data);
	/* Within the frame limit but above the buffer's own ceiling. */
	eml_buf_free(&in);
	eml_buf_init(&in, 4095);
	assert_eml_ok(eml_io_write_full(sv[0], mid, 4, dl));
	assert_eml(eml_frame_read(sv[1], EML_FRAME_MAX_DEFAULT, dl, &in), EML_ERR_PROTO_TOO_LARGE);
	assert_null(in.data);
	close(sv[0]);
	close(sv[1]);
	eml_buf_free(&in);
}

static void
fd_truncated_frames(void **state)
{
	static const uint8_t frame[] = { 0, 0, 0, 6, 1, 2, 3, 4, 5, 6 };
	struct eml_buf in;
	int64_t dl = eml_deadline_in_ms(5000);

	(void)state;
	eml_buf_init(&in, 4096);
	for (size_t cut = 1; cut < sizeof(frame); cut++) {
		int sv[2];

		pair(sv);
		assert_eml_ok(eml_io_write_full(sv[0], frame, cut, dl));
		close(sv[0]);
		assert_eml(eml_frame_read(sv[1], 4096, dl, &in), EML_ERR_PROTO_TRUNCATED);
		assert_int_equal(in.len, 0);
		close(sv[1]);
	}
	eml_buf_free(&in);
}

/* A silent peer: the read deadline fires, both before the header and in
 * the middle of a body. */
static void
fd_read_deadline_silent_peer(void **state)
{
	static const uint8_t hdr[] = { 0, 0, 0, 50, 1, 2 };
	int sv[2];
	struct eml_buf in;
	int64_t t0, el;

	(void)state;
	pair(sv);
	eml_buf_init(&in, 4096);
	t0 = eml_now_ms();
	assert_eml(eml_frame_read(sv[1], 4096, eml_deadline_in_ms(150), &in), EML_ERR_IO_TIMEOUT);
	el = eml_now_ms() - t0;
	assert_true(el >= 140 && el < 3000);
	assert_eml_ok(eml_io_write_full(sv[0], hdr, sizeof(hdr), eml_deadline_in_ms(1000)));
	t0 = eml_now_ms();
	assert_eml(eml_frame_read(sv[1], 4096, eml_deadline_in_ms(150), &in), EML_ERR_IO_TIMEOUT);
	el = eml_now_ms() - t0;
	assert_true(el >= 140 && el < 3000);
	assert_int_equal(in.len, 0);
	/* A deadline already in the past fails at once. */
	assert_eml(eml_frame_read(sv[1], 4096, eml_now_ms() - 1, &in), EML_ERR_IO_TIMEOUT);
	close(sv[0]);
	close(sv[1]);
	eml_buf_free(&in);
}

/* A peer that never reads: the write deadline fires instead of blocking
 * forever on a full socket buffer. */
static void
fd_write_deadline_stuck_reader(void **state)
{
	size_t n = (size_t)16 << 20;
	uint8_t *big = eml_calloc(1, n);
	int sv[2];
	int64_t t0, el;

	(void)state;
	assert_non_null(big);
	pair(sv);
	t0 = eml_now_ms();
	assert_eml(eml_frame_write(sv[0], big, n, n, eml_deadline_in_ms(150)), EML_ERR_IO_TIMEOUT);
	el = eml_now_ms() - t0;
	assert_true(el >= 140 && el < 3000);
	/* Peer gone: EOF, not SIGPIPE. */
	close(sv[1]);
	assert_eml(eml_frame_write(sv[0], big, 10, n, eml_deadline_in_ms(1000)), EML_ERR_IO_EOF);
	close(sv[0]);
	eml_free(big);
}

/* EINTR and short I/O: a writer thread dribbles a frame into a pipe one
 * byte at a time while another thread keeps interrupting the reader with
 * a signal whose handler is installed without SA_RESTART. */
struct dribble {
	int fd;
	const uint8_t *p;
	size_t n;
	pthread_t victim;
	volatile int done;
};

static void
on_usr1(int sig)
{
	(void)sig;
}

static void *
dribble_writer(void *arg)
{
	struct dribble *d = arg;

	for (size_t i = 0; i < d->n; i++) {
		if (write(d->fd, d->p + i, 1) != 1)
			break;
		if (i % 64 == 0)
			sleep_ms(1);
	}
	d->done = 1;
	return NULL;
}

static void *
interrupter(void *arg)
{
	struct dribble *d = arg;

	while (!d->done) {
		(void)pthread_kill(d->victim, SIGUSR1);
		sleep_ms(1);
	}
	return NULL;
}

static void
pipe_eintr_short_reads(void **state)
{
	struct sigaction sa, old;
	struct dribble d;
	pthread_t w, k;
	int p[2];
	struct eml_buf frame, in;
	uint8_t body[3000];

	(void)state;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_usr1;
	sa.sa_flags = 0; /* no SA_RESTART: poll and read see EINTR */
	assert_int_equal(sigaction(SIGUSR1, &sa, &old), 0);
	for (size_t i = 0; i < sizeof(body); i++)
		body[i] = (uint8_t)(i ^ 0x5a);
	eml_buf_init(&frame, 8192);
	assert_eml_ok(eml_frame_encode(&frame, body, sizeof(body), 8192));
	assert_int_equal(pipe(p), 0);
	d.fd = p[1];
	d.p = frame.data;
	d.n = frame.len;
	d.victim = pthread_self();
	d.done = 0;
	assert_int_equal(pthread_create(&w, NULL, dribble_writer, &d), 0);
	assert_int_equal(pthread_create(&k, NULL, interrupter, &d), 0);
	eml_buf_init(&in, 8192);
	assert_eml_ok(eml_frame_read(p[0], 8192, eml_deadline_in_ms(20000), &in));
	assert_int_equal(in.len, sizeof(body));
	assert_memory_equal(in.data, body, sizeof(body));
	pthread_join(w, NULL);
	pthread_join(k, NULL);
	close(p[0]);
	close(p[1]);
	eml_buf_free(&in);
	eml_buf_free(&frame);
	assert_int_equal(sigaction(SIGUSR1, &old, NULL), 0);
}

/* Short writes: a frame far larger than the pipe buffer, drained by a
 * reader thread one small read at a time. */
struct drain {
	int fd;
	uint8_t *dst;
	size_t n;
};

static void *
slow_reader(void *arg)
{
	struct drain *d = arg;
	size_t got = 0;

	while (got < d->n) {
		size_t want = d->n - got < 777 ? d->n - got : 777;
		ssize_t r = read(d->fd, d->dst + got, want);

		if (r <= 0)
			break;
		got += (size_t)r;
	}
	d->n = got;
	return NULL;
}

static void
pipe_short_writes(void **state)
{
	size_t n = 300 * 1000;
	uint8_t *body = eml_alloc(n), *dst = eml_alloc(n + 4);
	struct drain d;
	pthread_t t;
	int p[2];
	uint64_t s = 42;

	(void)state;
	assert_non_null(body);
	assert_non_null(dst);
	eml_test_fill(&s, body, n);
	assert_int_equal(pipe(p), 0);
	d.fd = p[0];
	d.dst = dst;
	d.n = n + 4;
	assert_int_equal(pthread_create(&t, NULL, slow_reader, &d), 0);
	assert_eml_ok(eml_frame_write(p[1], body, n, n, eml_deadline_in_ms(20000)));
	pthread_join(t, NULL);
	assert_int_equal(d.n, n + 4);
	assert_int_equal(dst[0], 0);
	assert_int_equal(dst[1], (n >> 16) & 0xff);
	assert_int_equal(dst[2], (n >> 8) & 0xff);
	assert_int_equal(dst[3], n & 0xff);
	assert_memory_equal(dst + 4, body, n);
	close(p[0]);
	close(p[1]);
	eml_free(body);
	eml_free(dst);
}

/* Randomized sizes through a socketpair with a writer thread. */
struct rwriter {
	int fd;
	uint64_t seed;
	int frames;
};

static size_t
rand_len(uint64_t *s)
{
	uint64_t r = eml_test_rand(s);

	switch (r % 4) {
	case 0:
		return 1 + (size_t)(r >> 8) % 16;
	case 1:
		return 1 + (size_t)(r >> 8) % 4096;
	case 2:
		return 1 + (size_t)(r >> 8) % (300 * 1024);
	default:
		return (size_t)1 << 20 | (size_t)(r >> 8) % 1000;
	}
}

static void *
random_writer(void *arg)
{
	struct rwriter *w = arg;
	uint64_t s = w->seed;
	uint8_t *buf = eml_alloc((size_t)2 << 20);

	for (int i = 0; i < w->frames && buf != NULL; i++) {
		size_t n = rand_len(&s);

		eml_test_fill(&s, buf, n);
		if (eml_frame_write(w->fd, buf, n, (size_t)2 << 20, eml_deadline_in_ms(20000)) != EML_OK)
			break;
	}
	eml_free(buf);
	close(w->fd);
	return NULL;
}

static void
random_round_trips(void **state)
{
	uint64_t seed = eml_test_seed();
	uint8_t *want = eml_alloc((size_t)2 << 20);
	struct rwriter w;
	struct eml_buf in;
	pthread_t t;
	uint64_t s = seed;
	int sv[2];

	(void)state;
	assert_non_null(want);
	pair(sv);
	w.fd = sv[0];
	w.seed = seed;
	w.frames = 60;
	eml_buf_init(&in, (size_t)2 << 20);
	assert_int_equal(pthread_create(&t, NULL, random_writer, &w), 0);
	for (int i = 0; i < w.frames; i++) {
		size_t n = rand_len(&s);
		eml_err rc;

		eml_test_fill(&s, want, n);
		rc = eml_frame_read(sv[1], (size_t)2 << 20, eml_deadline_in_ms(20000), &in);
		if (rc != EML_OK || in.len != n || memcmp(in.data, want, n) != 0)
			fail_msg("frame %d of %zu bytes wrong (rc %s), seed %llu", i, n,
			    eml_err_name(rc), (unsigned long long)seed);
	}
	assert_eml(eml_frame_read(sv[1], (size_t)2 << 20, eml_deadline_in_ms(20000), &in), EML_ERR_IO_EOF);
	pthread_join(t, NULL);
	close(sv[1]);
	eml_buf_free(&in);
	eml_free(want);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(check_len_boundaries),
		cmocka_unit_test(encode_decode_known_bytes),
		cmocka_unit_test(decode_rejects_bad_input),
		cmocka_unit_test(fd_round_trip_and_boundaries),
		cmocka_unit_test(fd_bad_lengths_before_allocation),
		cmocka_unit_test(fd_truncated_frames),
		cmocka_unit_test(fd_read_deadline_silent_peer),
		cmocka_unit_test(fd_write_deadline_stuck_reader),
		cmocka_unit_test(pipe_eintr_short_reads),
		cmocka_unit_test(pipe_short_writes),
		cmocka_unit_test(random_round_trips),
	};

	if (eml_mem_init() != EML_OK)
		return 1;
	return cmocka_run_group_tests_name("frame", tests, NULL, NULL);
}
