/*
 * Structured logs: one JSON object per line on stderr (STYLE §15).
 *
 *   EML_LOG_INFO("frame.recv", &cid, EML_F_U64("bytes", n), EML_F_STR("peer", addr));
 *   EML_LOG0_WARN("agent.start", NULL);
 *
 * prints
 *
 *   {"ts":"2026-11-21T19:40:01.123Z","level":"info","event":"frame.recv",
 *    "cid":"00112233445566778899aabbccddeeff","fn":"relay_one","bytes":123,"peer":"unix:/x"}
 *
 * Fields are typed: strings, signed and unsigned integers, booleans, doubles
 * and error codes. There is deliberately no field type for a byte buffer,
 * so payloads, keys and tensors cannot be logged by accident. The
 * correlation id is the 16-byte request id of the envelope (DESIGN §4).
 *
 * EML_LOG_LEVEL=debug|info|warn|error|off sets the threshold (default info).
 */
#ifndef EML_LOG_H
#define EML_LOG_H

#include <stdbool.h>
#include <stdint.h>

#include "eml_err.h"

enum eml_log_level {
	EML_LOG_LEVEL_DEBUG = 0,
	EML_LOG_LEVEL_INFO = 1,
	EML_LOG_LEVEL_WARN = 2,
	EML_LOG_LEVEL_ERROR = 3,
	EML_LOG_LEVEL_OFF = 4,
};

/* The correlation id of a request or session. */
struct eml_cid {
	uint8_t b[16];
};

enum eml_log_ftype {
	EML_LOG_F_STR,
	EML_LOG_F_I64,
	EML_LOG_F_U64,
	EML_LOG_F_BOOL,
	EML_LOG_F_F64,
	EML_LOG_F_ERR,
};

struct eml_log_field {
	const char *key;
	enum eml_log_ftype type;
	union {
		const char *s;
		int64_t i;
		uint64_t u;
		bool b;
		double d;
		eml_err e;
	} v;
};

#define EML_F_STR(k, x) { (k), EML_LOG_F_STR, { .s = (x) } }
#define EML_F_I64(k, x) { (k), EML_LOG_F_I64, { .i = (int64_t)(x) } }
#define EML_F_U64(k, x) { (k), EML_LOG_F_U64, { .u = (uint64_t)(x) } }
#define EML_F_BOOL(k, x) { (k), EML_LOG_F_BOOL, { .b = (x) } }
#define EML_F_F64(k, x) { (k), EML_LOG_F_F64, { .d = (double)(x) } }
/* Prints "err":NUMBER,"err_name":"EML_ERR_...". */
#define EML_F_ERR(x) { "err", EML_LOG_F_ERR, { .e = (x) } }

void eml_log_emit(enum eml_log_level lvl, const char *func, const char *event,
    const struct eml_cid *cid, const struct eml_log_field *fields, size_t nfields);
bool eml_log_enabled(enum eml_log_level lvl);
/* Override the threshold (otherwise from EML_LOG_LEVEL on first use). */
void eml_log_set_level(enum eml_log_level lvl);
/* Redirect output to another fd (tests); -1 restores stderr. */
void eml_log_set_fd(int fd);
/* A fresh random correlation id. */
void eml_cid_random(struct eml_cid *cid);

#define EML_LOG_(lvl, ev, cid, ...)                                            \
	eml_log_emit((lvl), __func__, (ev), (cid),                             \
	    (const struct eml_log_field[]){ __VA_ARGS__ },                     \
	    sizeof((const struct eml_log_field[]){ __VA_ARGS__ }) /            \
		sizeof(struct eml_log_field))
#define EML_LOG_DEBUG(ev, cid, ...) EML_LOG_(EML_LOG_LEVEL_DEBUG, ev, cid, __VA_ARGS__)
#define EML_LOG_INFO(ev, cid, ...) EML_LOG_(EML_LOG_LEVEL_INFO, ev, cid, __VA_ARGS__)
#define EML_LOG_WARN(ev, cid, ...) EML_LOG_(EML_LOG_LEVEL_WARN, ev, cid, __VA_ARGS__)
#define EML_LOG_ERROR(ev, cid, ...) EML_LOG_(EML_LOG_LEVEL_ERROR, ev, cid, __VA_ARGS__)
#define EML_LOG0_DEBUG(ev, cid) eml_log_emit(EML_LOG_LEVEL_DEBUG, __func__, (ev), (cid), NULL, 0)
#define EML_LOG0_INFO(ev, cid) eml_log_emit(EML_LOG_LEVEL_INFO, __func__, (ev), (cid), NULL, 0)
#define EML_LOG0_WARN(ev, cid) eml_log_emit(EML_LOG_LEVEL_WARN, __func__, (ev), (cid), NULL, 0)
#define EML_LOG0_ERROR(ev, cid) eml_log_emit(EML_LOG_LEVEL_ERROR, __func__, (ev), (cid), NULL, 0)

#endif
