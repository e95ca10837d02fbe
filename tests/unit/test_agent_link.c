/*
 * eml_agent_link's message buffer kept between sessions (issue 16): a
 * large one is handed to the next link wiped, one for the process, only
 * to a link with the same frame limit; a small one is not kept.
 */
#include "eml_test.h"

#include <pthread.h>
#include <sodium.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "enclave-agent/eml_agent_link.h"
#include "eml_frame.h"
#include "eml_io.h"
#include "eml_mem.h"

#define FMAX ((size_t)8 << 20)

struct writer {
	int fd;
	size_t n;
};

static void *
write_frame(void *arg)
{
	const struct writer *w = arg;
	uint8_t *f = eml_alloc(w->n + 4);

	if (f == NULL)
		return NULL;
	eml_store_u32be(f, (uint32_t)w->n);
	memset(f + 4, 0xa5, w->n); /* not an envelope: the view fails after */
	if (eml_io_writev_full(w->fd, &(struct iovec){ f, w->n + 4 }, 1, EML_DEADLINE_NONE) != EML_OK)
		eml_err_clear_detail(); /* the reader's check fails then */
	eml_free(f);
	return NULL;
}

/* l receives one n-byte frame (whole; its envelope view fails). */
static void
receive(struct eml_agent_link *l, int fd_w, size_t n)
{
	struct writer w = { fd_w, n };
	struct eml_envelope env;
	pthread_t th;

	assert_int_equal(pthread_create(&th, NULL, write_frame, &w), 0);
	assert_true(eml_agent_link_recv_msg_x(l, &env, NULL, NULL) != EML_OK);
	eml_err_clear_detail();
	pthread_join(th, NULL);
	assert_int_equal(l->rx_msg.len, n);
	assert_int_equal(l->rx_hw, n);
}

static void
large_buffer_is_kept_wiped(void **state)
{
	struct eml_agent_link a, b, c, d;
	int sv[2];
	uint8_t *p;
	size_t cap;

	(void)state;
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	eml_agent_link_init(&a, sv[1], FMAX, 5000);
	receive(&a, sv[0], (size_t)3 << 20);
	p = a.rx_msg.data;
	cap = a.rx_msg.cap;
	eml_agent_link_clear(&a);
	/* the next link with that limit starts with it, wiped whole */
	eml_agent_link_init(&b, sv[1], FMAX, 5000);
	assert_ptr_equal(b.rx_msg.data, p);
	assert_int_equal(b.rx_msg.cap, cap);
	assert_int_equal(b.rx_msg.len, 0);
	assert_true(sodium_is_zero(b.rx_msg.data, b.rx_msg.cap));
	/* one for the process: the link after gets none; nor another limit */
	eml_agent_link_init(&c, sv[1], FMAX, 5000);
	assert_null(c.rx_msg.data);
	eml_agent_link_clear(&c);
	/* b uses it again (a shorter frame), then gives it back */
	receive(&b, sv[0], (size_t)1 << 20);
	assert_ptr_equal(b.rx_msg.data, p);
	eml_agent_link_clear(&b);
	eml_agent_link_init(&d, sv[1], FMAX / 2, 5000);
	assert_null(d.rx_msg.data);
	eml_agent_link_clear(&d);
	eml_agent_link_init(&b, sv[1], FMAX, 5000);
	assert_ptr_equal(b.rx_msg.data, p);
	assert_true(sodium_is_zero(b.rx_msg.data, b.rx_msg.cap));
	eml_agent_link_clear(&b);
	eml_agent_link_park_drop();
	eml_agent_link_init(&b, sv[1], FMAX, 5000);
	assert_null(b.rx_msg.data);
	eml_agent_link_clear(&b);
	close(sv[0]);
	close(sv[1]);
}

static void
small_buffer_is_not_kept(void **state)
{
	struct eml_agent_link a, b;
	int sv[2];

	(void)state;
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	eml_agent_link_init(&a, sv[1], FMAX, 5000);
	receive(&a, sv[0], (size_t)64 << 10);
	eml_agent_link_clear(&a);
	eml_agent_link_init(&b, sv[1], FMAX, 5000);
	assert_null(b.rx_msg.data);
	eml_agent_link_clear(&b);
	close(sv[0]);
	close(sv[1]);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(large_buffer_is_kept_wiped),
		cmocka_unit_test(small_buffer_is_not_kept),
	};

	if (eml_mem_init() != EML_OK)
		return 1;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
