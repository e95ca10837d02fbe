/*
 * The nsm producer against a fake device behind the same transfer
 * interface. The fake checks the request bytes against CBOR written out by
 * hand from the nsm-api message definitions (NOTES §4.2) and answers with
 * the bytes a real NSM would send, e.g. a real AWS document wrapped in
 * {"Attestation": {"document": ...}}. Real Nitro hardware is not exercised.
 */
#include "eml_test.h"

#include <errno.h>
#include <string.h>

#include "attestation/eml_attest.h"
#include "attestation/eml_cbor.h"
#include "attestation/eml_nsm.h"
#include "eml_buf.h"
#include "eml_mem.h"

struct fake {
	/* what the last request was */
	uint8_t req[EML_NSM_REQUEST_MAX];
	size_t req_len;
	/* what to answer */
	const uint8_t *resp;
	size_t resp_len;
	int err;              /* errno to fail with, 0 for none */
	uint64_t claim_len;   /* if nonzero, the length written back instead */
	unsigned long ioctl_nr;
	int calls;
};

static int
fake_xfer(void *ctx, int fd, unsigned long request, struct eml_nsm_raw *raw)
{
	struct fake *f = ctx;

	(void)fd;
	f->calls++;
	f->ioctl_nr = request;
	if (f->err != 0)
		return f->err;
	/* Kernel behaviour: request over 4096 is EMSGSIZE; the response is
	 * truncated to the caller's buffer and its length written back. */
	if (raw->request_len > EML_NSM_REQUEST_MAX)
		return EMSGSIZE;
	memcpy(f->req, (const void *)(uintptr_t)raw->request_addr, raw->request_len);
	f->req_len = raw->request_len;
	{
		size_t n = f->resp_len < raw->response_len ? f->resp_len : raw->response_len;

		memcpy((void *)(uintptr_t)raw->response_addr, f->resp, n);
		raw->response_len = f->claim_len != 0 ? f->claim_len : n;
	}
	return 0;
}

static struct eml_nsm *
fake_nsm(struct fake *f)
{
	struct eml_nsm *nsm = NULL;

	assert_eml_ok(eml_nsm_open_with(fake_xfer, f, &nsm));
	return nsm;
}

/* {"Attestation": {"document": <doc>}} around arbitrary bytes. */
static void
wrap_document(struct eml_buf *b, const uint8_t *doc, size_t n)
{
	assert_eml_ok(eml_buf_append(b, "\xa1\x6b" "Attestation" "\xa1\x68" "document", 23));
	assert_eml_ok(eml_cbor_put_bytes(b, doc, n));
}

static void
attestation_request_and_real_document(void **state)
{
	struct fake f = { 0 };
	struct eml_nsm *nsm = fake_nsm(&f);
	struct eml_buf resp;
	struct eml_buf doc;
	struct eml_attest_doc *parsed = eml_calloc(1, sizeof(*parsed));
	size_t n;
	uint8_t *real = eml_test_read_file(eml_test_data("attestation/doc01.cbor"), &n);
	static const uint8_t nonce[3] = { 1, 2, 3 };
	/* {"Attestation": {"user_data": null, "nonce": h'010203', "public_key": null}} */
	static const uint8_t want_req[] = "\xa1\x6b" "Attestation" "\xa3"
					  "\x69" "user_data" "\xf6"
					  "\x65" "nonce" "\x43\x01\x02\x03"
					  "\x6a" "public_key" "\xf6";

	(void)state;
	eml_buf_init(&resp, 20000);
	eml_buf_init(&doc, EML_ATTEST_DOC_MAX);
	wrap_document(&resp, real, n);
	f.resp = resp.data;
	f.resp_len = resp.len;
	assert_eml_ok(eml_nsm_attest(nsm, NULL, 0, nonce, 3, NULL, 0, &doc));
	assert_true(f.ioctl_nr == 0xC0200A00UL);
	assert_int_equal(f.req_len, sizeof(want_req) - 1);
	assert_memory_equal(f.req, want_req, f.req_len);
	assert_int_equal(doc.len, n);
	assert_memory_equal(doc.data, real, n);
	assert_eml_ok(eml_attest_doc_parse(doc.data, doc.len, parsed));
	eml_buf_free(&doc);
	eml_buf_free(&resp);
	eml_free(real);
	eml_free(parsed);
	eml_nsm_close(nsm);
}

/* Three 1024-byte fields (as nsm-check requests, and doc10 carries) fit
 * in one 4096-byte request; the empty byte string is not null. */
static void
attestation_largest_request_fits(void **state)
{
	struct fake f = { 0 };
	struct eml_nsm *nsm = fake_nsm(&f);
	struct eml_buf resp;
	struct eml_buf doc;
	static uint8_t big[1024];
	static const uint8_t one[] = { 0x42 };

	(void)state;
	eml_buf_init(&resp, 256);
	eml_buf_init(&doc, EML_ATTEST_DOC_MAX);
	wrap_document(&resp, one, 1);
	f.resp = resp.data;
	f.resp_len = resp.len;
	assert_eml_ok(eml_nsm_attest(nsm, big, 1024, big, 1024, big, 1024, &doc));
	assert_true(f.req_len > 3 * 1024 && f.req_len <= EML_NSM_REQUEST_MAX);
	assert_eml_ok(eml_nsm_attest(nsm, big, 0, NULL, 0, NULL, 0, &doc));
	/* user_data is h'' (0x40), not null (0xf6). */
	assert_int_equal(f.req[2 + 11 + 1 + 10], 0x40);
	eml_buf_free(&doc);
	eml_buf_free(&resp);
	eml_nsm_close(nsm);
}

static void
error_and_malformed_responses(void **state)
{
	static const struct {
		const char *bytes;
		size_t len;
		eml_err want;
	} cases[] = {
		{ "\xa1\x65" "Error" "\x6f" "InvalidArgument", 23, EML_ERR_ATTEST_NSM_ERROR },
		{ "\xa1\x65" "Error" "\x6d" "InternalError", 21, EML_ERR_ATTEST_NSM_ERROR },
		/* not CBOR, truncated, trailing byte */
		{ "\xff", 1, EML_ERR_ATTEST_NSM_RESPONSE },
		{ "\xa1\x6b" "Attestation" "\xa1\x68" "document" "\x45\x01", 25, EML_ERR_ATTEST_NSM_RESPONSE },
		{ "\xa1\x6b" "Attestation" "\xa1\x68" "document" "\x41\x01\x00", 26, EML_ERR_ATTEST_NSM_RESPONSE },
		/* another variant, a bare text, an empty document, a text document */
		{ "\xa1\x69" "GetRandom" "\xa1\x66" "random" "\x41\x01", 21, EML_ERR_ATTEST_NSM_RESPONSE },
		{ "\x6b" "Attestation", 12, EML_ERR_ATTEST_NSM_RESPONSE },
		{ "\xa1\x6b" "Attestation" "\xa1\x68" "document" "\x40", 24, EML_ERR_ATTEST_NSM_RESPONSE },
		{ "\xa1\x6b" "Attestation" "\xa1\x68" "document" "\x61" "x", 25, EML_ERR_ATTEST_NSM_RESPONSE },
		/* an extra key in the body, a duplicate key */
		{ "\xa1\x6b" "Attestation" "\xa2\x68" "document" "\x41\x01" "\x61" "x" "\xf6", 28,
		    EML_ERR_ATTEST_NSM_RESPONSE },
		{ "\xa1\x6b" "Attestation" "\xa2\x68" "document" "\x41\x01" "\x68" "document" "\x41\x01", 36,
		    EML_ERR_ATTEST_NSM_RESPONSE },
	};
	struct fake f = { 0 };
	struct eml_nsm *nsm = fake_nsm(&f);
	struct eml_buf doc;

	(void)state;
	eml_buf_init(&doc, EML_ATTEST_DOC_MAX);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		f.resp = (const uint8_t *)cases[i].bytes;
		f.resp_len = cases[i].len;
		assert_eml(eml_nsm_attest(nsm, NULL, 0, NULL, 0, NULL, 0, &doc), cases[i].want);
		assert_int_equal(doc.len, 0);
	}
	/* The detail names the NSM's code. */
	f.resp = (const uint8_t *)cases[0].bytes;
	f.resp_len = cases[0].len;
	assert_eml(eml_nsm_attest(nsm, NULL, 0, NULL, 0, NULL, 0, &doc), EML_ERR_ATTEST_NSM_ERROR);
	assert_non_null(strstr(eml_err_detail(), "InvalidArgument"));
	eml_buf_free(&doc);
	eml_nsm_close(nsm);
}

static void
oversized_and_device_failures(void **state)
{
	struct fake f = { 0 };
	struct eml_nsm *nsm = fake_nsm(&f);
	struct eml_buf doc;
	struct eml_buf resp;
	uint8_t *huge = eml_calloc(1, EML_NSM_RESPONSE_MAX);
	static uint8_t big[1024];
	struct eml_nsm *none = NULL;

	(void)state;
	eml_buf_init(&doc, EML_ATTEST_DOC_MAX);
	eml_buf_init(&resp, 2 * EML_NSM_RESPONSE_MAX);
	/* A document that fills more than the response buffer is cut by the
	 * driver, and so no longer decodes. */
	wrap_document(&resp, huge, EML_NSM_RESPONSE_MAX);
	f.resp = resp.data;
	f.resp_len = resp.len;
	assert_eml(eml_nsm_attest(nsm, NULL, 0, NULL, 0, NULL, 0, &doc), EML_ERR_ATTEST_NSM_RESPONSE);
	/* A device that claims to have written more than the buffer. */
	eml_buf_reset(&resp);
	wrap_document(&resp, big, 10);
	f.resp = resp.data;
	f.resp_len = resp.len;
	f.claim_len = EML_NSM_RESPONSE_MAX + 1;
	assert_eml(eml_nsm_attest(nsm, NULL, 0, NULL, 0, NULL, 0, &doc), EML_ERR_ATTEST_NSM_RESPONSE);
	f.claim_len = 0;
	/* An empty response. */
	f.resp_len = 0;
	assert_eml(eml_nsm_attest(nsm, NULL, 0, NULL, 0, NULL, 0, &doc), EML_ERR_ATTEST_NSM_RESPONSE);
	/* ioctl errors. */
	f.err = EIO;
	assert_eml(eml_nsm_attest(nsm, NULL, 0, NULL, 0, NULL, 0, &doc), EML_ERR_ATTEST_NSM_DEVICE);
	f.err = EMSGSIZE;
	assert_eml(eml_nsm_attest(nsm, NULL, 0, NULL, 0, NULL, 0, &doc), EML_ERR_ATTEST_NSM_INPUT);
	f.err = 0;
	/* Fields over 1024 bytes are refused before any ioctl by the producer
	 * wrapper. */
	{
		struct eml_attest_producer p;
		uint8_t *b = eml_calloc(1, 2000);
		int calls = f.calls;

		eml_nsm_producer(nsm, &p);
		assert_string_equal(p.name, "nsm");
		assert_eml(eml_attest_produce(&p, b, 1025, NULL, 0, NULL, 0, &doc),
		    EML_ERR_ATTEST_NSM_INPUT);
		assert_int_equal(f.calls, calls);
		eml_free(b);
		eml_attest_producer_close(&p); /* closes nsm */
	}
	/* No /dev/nsm here. */
	assert_eml(eml_nsm_open("/nonexistent/nsm", &none), EML_ERR_ATTEST_NSM_DEVICE);
	assert_null(none);
	{
		struct eml_attest_producer p;

		assert_eml(eml_attest_producer_open("nsm", "/nonexistent/nsm", &p),
		    EML_ERR_ATTEST_NSM_DEVICE);
		assert_eml(eml_attest_producer_open("tpm", NULL, &p), EML_ERR_CONFIG);
		assert_eml_ok(eml_attest_producer_open("sim", NULL, &p));
		assert_string_equal(p.name, "sim");
		eml_attest_producer_close(&p);
	}
	eml_free(huge);
	eml_buf_free(&resp);
	eml_buf_free(&doc);
}

static void
describe_pcr_and_random(void **state)
{
	struct fake f = { 0 };
	struct eml_nsm *nsm = fake_nsm(&f);
	struct eml_attest_producer p;
	struct eml_buf resp;
	uint8_t data[64];
	uint8_t v48[48];
	uint8_t rnd[300];
	size_t len = 0;
	bool locked = false;
	/* {"DescribePCR": {"index": 16}} */
	static const uint8_t want_pcr_req[] = "\xa1\x6b" "DescribePCR" "\xa1\x65" "index" "\x10";

	(void)state;
	for (size_t i = 0; i < sizeof(v48); i++)
		v48[i] = (uint8_t)(i * 7);
	eml_buf_init(&resp, 512);
	assert_eml_ok(eml_buf_append(&resp, "\xa1\x6b" "DescribePCR" "\xa2\x64" "lock" "\xf5" "\x64" "data", 25));
	assert_eml_ok(eml_cbor_put_bytes(&resp, v48, 48));
	f.resp = resp.data;
	f.resp_len = resp.len;
	eml_nsm_producer(nsm, &p);
	assert_eml_ok(eml_attest_describe_pcr(&p, 16, &locked, data, &len));
	assert_int_equal(f.req_len, sizeof(want_pcr_req) - 1);
	assert_memory_equal(f.req, want_pcr_req, f.req_len);
	assert_true(locked);
	assert_int_equal(len, 48);
	assert_memory_equal(data, v48, 48);
	/* 47 bytes of data, and lock as an integer. */
	eml_buf_reset(&resp);
	assert_eml_ok(eml_buf_append(&resp, "\xa1\x6b" "DescribePCR" "\xa2\x64" "lock" "\xf5" "\x64" "data", 25));
	assert_eml_ok(eml_cbor_put_bytes(&resp, v48, 47));
	f.resp_len = resp.len;
	assert_eml(eml_attest_describe_pcr(&p, 16, &locked, data, &len), EML_ERR_ATTEST_NSM_RESPONSE);
	eml_buf_reset(&resp);
	assert_eml_ok(eml_buf_append(&resp, "\xa1\x6b" "DescribePCR" "\xa2\x64" "lock" "\x01" "\x64" "data", 25));
	assert_eml_ok(eml_cbor_put_bytes(&resp, v48, 48));
	f.resp_len = resp.len;
	assert_eml(eml_attest_describe_pcr(&p, 16, &locked, data, &len), EML_ERR_ATTEST_NSM_RESPONSE);

	/* GetRandom: the kernel's own form, 69 "GetRandom" -> {"GetRandom": {"random": ...}}. */
	eml_buf_reset(&resp);
	assert_eml_ok(eml_buf_append(&resp, "\xa1\x69" "GetRandom" "\xa1\x66" "random", 19));
	assert_eml_ok(eml_cbor_put_bytes(&resp, v48, 48));
	f.resp_len = resp.len;
	f.calls = 0;
	memset(rnd, 0xee, sizeof(rnd));
	assert_eml_ok(eml_attest_get_random(&p, rnd, sizeof(rnd)));
	assert_int_equal(f.req_len, 10);
	assert_memory_equal(f.req, "\x69" "GetRandom", 10);
	/* 300 bytes asked in NSM-sized pieces of 256 + 44, at 48 bytes per
	 * answer: 6 + 1 exchanges, every byte from the device. */
	assert_int_equal(f.calls, 7);
	assert_memory_equal(rnd, v48, 48);
	assert_memory_equal(rnd + 240, v48, 16);
	assert_memory_equal(rnd + 256, v48, 44);
	/* A zero-length random answer is an error, not an endless loop. */
	eml_buf_reset(&resp);
	assert_eml_ok(eml_buf_append(&resp, "\xa1\x69" "GetRandom" "\xa1\x66" "random" "\x40", 20));
	f.resp_len = resp.len;
	assert_eml(eml_attest_get_random(&p, rnd, 16), EML_ERR_ATTEST_NSM_RESPONSE);
	eml_attest_producer_close(&p);
	eml_buf_free(&resp);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(attestation_request_and_real_document),
		cmocka_unit_test(attestation_largest_request_fits),
		cmocka_unit_test(error_and_malformed_responses),
		cmocka_unit_test(oversized_and_device_failures),
		cmocka_unit_test(describe_pcr_and_random),
	};

	if (eml_mem_init() != EML_OK)
		return 1;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
