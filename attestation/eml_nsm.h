/*
 * The real Nitro Secure Module: /dev/nsm, one ioctl carrying a CBOR
 * request and a CBOR response (Linux include/uapi/linux/nsm.h,
 * drivers/misc/nsm.c; NOTES §4). Requests and responses are serde's
 * externally tagged enums, e.g. {"Attestation": {"document": bstr}} or
 * {"Error": "InvalidArgument"}.
 *
 * The transfer goes through a function pointer so tests can put a fake
 * device behind the same interface; the real one is ioctl(2).
 */
#ifndef EML_NSM_H
#define EML_NSM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "eml_attest_producer.h"
#include "eml_buf.h"
#include "eml_err.h"

/* Kernel limits: NSM_REQUEST_MAX_SIZE and NSM_RESPONSE_MAX_SIZE. */
#define EML_NSM_REQUEST_MAX 0x1000
#define EML_NSM_RESPONSE_MAX 0x3000
/* _IOWR(0x0A, 0, struct nsm_raw), struct size 32. */
#define EML_NSM_IOCTL_RAW 0xC0200A00UL
#define EML_NSM_DEVICE "/dev/nsm"

/* struct nsm_raw: two {u64 addr; u64 len} iovecs. The driver writes the
 * number of response bytes back into response_len. */
struct eml_nsm_raw {
	uint64_t request_addr;
	uint64_t request_len;
	uint64_t response_addr;
	uint64_t response_len;
};

/* One request/response exchange: 0 on success, else a positive errno. */
typedef int (*eml_nsm_xfer_fn)(void *ctx, int fd, unsigned long request, struct eml_nsm_raw *raw);

struct eml_nsm;

/* Open path (NULL: /dev/nsm). EML_OK, EML_ERR_ATTEST_NSM_DEVICE (detail:
 * why; the device exists only inside a Nitro enclave), EML_ERR_NOMEM. */
eml_err eml_nsm_open(const char *path, struct eml_nsm **out) EML_MUST_USE;
/* A device behind xfer (tests: a fake NSM). No file is opened. */
eml_err eml_nsm_open_with(eml_nsm_xfer_fn xfer, void *ctx, struct eml_nsm **out) EML_MUST_USE;
void eml_nsm_close(struct eml_nsm *nsm);

/*
 * Attestation. NULL fields are sent as null. The document is appended to
 * doc. EML_OK, EML_ERR_ATTEST_NSM_INPUT (request above 4096 bytes or the
 * driver said EMSGSIZE), EML_ERR_ATTEST_NSM_DEVICE (ioctl failed),
 * EML_ERR_ATTEST_NSM_ERROR ({"Error": ...}; the detail names it),
 * EML_ERR_ATTEST_NSM_RESPONSE (anything else unexpected), EML_ERR_NOMEM.
 */
eml_err eml_nsm_attest(struct eml_nsm *nsm, const uint8_t *user_data, size_t user_data_len,
    const uint8_t *nonce, size_t nonce_len, const uint8_t *public_key, size_t public_key_len,
    struct eml_buf *doc) EML_MUST_USE;
/* DescribePCR: value (32/48/64 bytes) and lock state. Same codes. */
eml_err eml_nsm_describe_pcr(struct eml_nsm *nsm, unsigned index, bool *locked, uint8_t data[64],
    size_t *len) EML_MUST_USE;
/* GetRandom until n bytes are filled; a zero-length reply is an error
 * (STYLE §32). Same codes. */
eml_err eml_nsm_get_random(struct eml_nsm *nsm, uint8_t *out, size_t n) EML_MUST_USE;

/* A producer that owns nsm (closed with eml_attest_producer_close). */
void eml_nsm_producer(struct eml_nsm *nsm, struct eml_attest_producer *p);

#endif
