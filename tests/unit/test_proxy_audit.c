/* eml-proxy audit log: the hash chain holds, and every kind of tampering
 * (edit, removal, insertion, reorder, cut) is caught. */
#include "eml_test.h"

#include <jansson.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "eml_buf.h"
#include "eml_mem.h"
#include "host-proxy/eml_audit.h"

struct fixture {
	char path[64];
};

static int
setup(void **state)
{
	struct fixture *f = eml_calloc(1, sizeof(*f));
	int fd;

	assert_non_null(f);
	assert_eml_ok(eml_mem_init());
	(void)snprintf(f->path, sizeof(f->path), "/tmp/eml-audit-XXXXXX");
	fd = mkstemp(f->path);
	assert_true(fd >= 0);
	(void)close(fd);
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fixture *f = *state;

	(void)unlink(f->path);
	eml_free(f);
	return 0;
}

/* Write n request lines through the real writer. */
static void
write_log(const char *path, int n)
{
	struct eml_audit a;
	struct eml_cid cid;

	assert_eml_ok(eml_audit_open(&a, path));
	for (int i = 0; i < n; i++) {
		memset(cid.b, i, sizeof(cid.b));
		assert_eml_ok(EML_AUDIT(&a, "request", &cid, EML_F_U64("bytes_in", 100 + i),
		    EML_F_STR("agent", "unix:/tmp/a.sock"), EML_F_F64("latency_ms", 1.5),
		    EML_F_ERR(EML_OK)));
	}
	eml_audit_close(&a);
}

/* The file as a NUL-terminated string. */
static char *
slurp(const char *path, size_t *n)
{
	return (char *)eml_test_read_file(path, n);
}

static void
spit(const char *path, const char *p, size_t n)
{
	FILE *fp = fopen(path, "wb");

	assert_non_null(fp);
	if (n > 0)
		assert_int_equal(fwrite(p, 1, n, fp), n);
	assert_int_equal(fclose(fp), 0);
}

/* Offsets of the start of each line (at most 16). */
static int
line_starts(const char *p, size_t n, size_t starts[16])
{
	int k = 0;

	for (size_t i = 0; i < n && k < 16; i++)
		if (i == 0 || p[i - 1] == '\n')
			starts[k++] = i;
	return k;
}

static void
chain_verifies_and_matches_openssl(void **state)
{
	struct fixture *f = *state;
	struct eml_audit_report r;
	size_t n, st[16];
	char *p;
	uint8_t h[32];
	unsigned int hl = 0;
	char hex[65], want_prev[80];
	json_t *o;
	json_error_t jerr;

	write_log(f->path, 4);
	assert_eml_ok(eml_audit_verify_file(f->path, &r));
	assert_int_equal(r.lines, 4);
	assert_int_equal(r.bad_line, 0);

	/* Independent check of the chain rule with OpenSSL: line 2's prev is
	 * SHA-256 of line 1 without its newline; line 1's prev is all zeros. */
	p = slurp(f->path, &n);
	assert_int_equal(line_starts(p, n, st), 4);
	assert_non_null(strstr(p, "\"seq\":1,"));
	assert_true(strncmp(p + st[1] - 67, "0000000000000000000000000000000000000000000000000000000000000000",
			64) == 0);
	assert_int_equal(EVP_Digest(p, st[1] - 1, h, &hl, EVP_sha256(), NULL), 1);
	eml_hex_encode(hex, h, 32);
	(void)snprintf(want_prev, sizeof(want_prev), "\"prev\":\"%s\"}", hex);
	assert_true(strncmp(p + st[2] - 1 - strlen(want_prev), want_prev, strlen(want_prev)) == 0);
	/* the last line's hash is the reported head */
	assert_int_equal(EVP_Digest(p + st[3], n - st[3] - 1, h, &hl, EVP_sha256(), NULL), 1);
	assert_memory_equal(h, r.head, 32);
	/* every line is a JSON object with the typed fields */
	o = json_loadb(p + st[2], st[3] - st[2] - 1, 0, &jerr);
	assert_non_null(o);
	assert_string_equal(json_string_value(json_object_get(o, "kind")), "request");
	assert_int_equal(json_integer_value(json_object_get(o, "bytes_in")), 102);
	assert_string_equal(json_string_value(json_object_get(o, "cid")),
	    "02020202020202020202020202020202");
	assert_int_equal(json_integer_value(json_object_get(o, "err")), 0);
	assert_string_equal(json_string_value(json_object_get(o, "err_name")), "EML_OK");
	json_decref(o);
	eml_free(p);
}

static void
edited_line_is_caught(void **state)
{
	struct fixture *f = *state;
	struct eml_audit_report r;
	size_t n;
	char *p, *at;

	write_log(f->path, 4);
	p = slurp(f->path, &n);
	/* "bytes_in":101 -> 109 on line 2: caught at line 3 */
	at = strstr(p, "\"bytes_in\":101");
	assert_non_null(at);
	at[strlen("\"bytes_in\":10")] = '9';
	spit(f->path, p, n);
	assert_eml(eml_audit_verify_file(f->path, &r), EML_ERR_AUDIT_CHAIN);
	assert_int_equal(r.bad_line, 3);
	assert_int_equal(r.lines, 2);
	eml_free(p);
}

static void
removed_line_is_caught(void **state)
{
	struct fixture *f = *state;
	struct eml_audit_report r;
	size_t n, st[16];
	char *p;

	write_log(f->path, 4);
	p = slurp(f->path, &n);
	assert_int_equal(line_starts(p, n, st), 4);
	/* drop line 2 */
	memmove(p + st[1], p + st[2], n - st[2]);
	spit(f->path, p, n - (st[2] - st[1]));
	assert_eml(eml_audit_verify_file(f->path, &r), EML_ERR_AUDIT_CHAIN);
	assert_int_equal(r.bad_line, 2);
	eml_free(p);

	/* drop line 1: the log no longer starts at seq 1 */
	assert_int_equal(unlink(f->path), 0);
	write_log(f->path, 3);
	p = slurp(f->path, &n);
	assert_int_equal(line_starts(p, n, st), 3);
	spit(f->path, p + st[1], n - st[1]);
	assert_eml(eml_audit_verify_file(f->path, &r), EML_ERR_AUDIT_CHAIN);
	assert_int_equal(r.bad_line, 1);
	eml_free(p);
}

static void
reordered_lines_are_caught(void **state)
{
	struct fixture *f = *state;
	struct eml_audit_report r;
	size_t n, st[16], l2, l3;
	char *p, *q;

	write_log(f->path, 4);
	p = slurp(f->path, &n);
	assert_int_equal(line_starts(p, n, st), 4);
	q = eml_alloc(n);
	assert_non_null(q);
	l2 = st[2] - st[1];
	l3 = st[3] - st[2];
	memcpy(q, p, st[1]);
	memcpy(q + st[1], p + st[2], l3);
	memcpy(q + st[1] + l3, p + st[1], l2);
	memcpy(q + st[3], p + st[3], n - st[3]);
	spit(f->path, q, n);
	assert_eml(eml_audit_verify_file(f->path, &r), EML_ERR_AUDIT_CHAIN);
	assert_int_equal(r.bad_line, 2);
	eml_free(q);
	eml_free(p);
}

/* A cut inside a line is a format error; a cut at a line boundary keeps a
 * valid chain whose head differs from the head the proxy reported. */
static void
cut_tail(void **state)
{
	struct fixture *f = *state;
	struct eml_audit_report r, full;
	size_t n, st[16];
	char *p;

	write_log(f->path, 4);
	assert_eml_ok(eml_audit_verify_file(f->path, &full));
	p = slurp(f->path, &n);
	assert_int_equal(line_starts(p, n, st), 4);
	spit(f->path, p, n - 1);
	assert_eml(eml_audit_verify_file(f->path, &r), EML_ERR_AUDIT_FORMAT);
	assert_int_equal(r.bad_line, 4);
	spit(f->path, p, st[3]);
	assert_eml_ok(eml_audit_verify_file(f->path, &r));
	assert_int_equal(r.lines, 3);
	assert_memory_not_equal(r.head, full.head, 32);
	eml_free(p);
}

static void
garbage_is_a_format_error(void **state)
{
	struct fixture *f = *state;
	struct eml_audit_report r;
	static const char *bad[] = {
		"not json\n",
		"[1,2]\n",
		"{\"seq\":1}\n",
		"{\"seq\":\"1\",\"prev\":\"0000000000000000000000000000000000000000000000000000000000000000\"}\n",
		"{\"seq\":1,\"prev\":\"00\"}\n",
		"{\"seq\":0,\"prev\":\"0000000000000000000000000000000000000000000000000000000000000000\"}\n",
		"\n",
	};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		spit(f->path, bad[i], strlen(bad[i]));
		assert_eml(eml_audit_verify_file(f->path, &r), EML_ERR_AUDIT_FORMAT);
		assert_int_equal(r.bad_line, 1);
	}
	/* the smallest valid log */
	{
		static const char ok1[] = "{\"seq\":1,\"prev\":\"0000000000000000000000000000000000000000000000000000000000000000\"}\n";

		spit(f->path, ok1, strlen(ok1));
	}
	assert_eml_ok(eml_audit_verify_file(f->path, &r));
	assert_int_equal(r.lines, 1);
	/* empty is valid, missing is not */
	spit(f->path, "", 0);
	assert_eml_ok(eml_audit_verify_file(f->path, &r));
	assert_int_equal(r.lines, 0);
	assert_eml(eml_audit_verify_file("/nonexistent/audit.log", &r), EML_ERR_FILE);
}

/* Reopening continues the chain; a torn last line is repaired. */
static void
reopen_resumes_chain(void **state)
{
	struct fixture *f = *state;
	struct eml_audit a;
	struct eml_audit_report r;
	uint8_t head[32];
	uint64_t seq = 0;
	size_t n;
	char *p;

	write_log(f->path, 2);
	write_log(f->path, 3);
	assert_eml_ok(eml_audit_verify_file(f->path, &r));
	assert_int_equal(r.lines, 5);
	assert_eml_ok(eml_audit_open(&a, f->path));
	eml_audit_head(&a, head, &seq);
	assert_int_equal(seq, 5);
	assert_memory_equal(head, r.head, 32);
	eml_audit_close(&a);

	p = slurp(f->path, &n);
	/* the last line cut 10 bytes short: repaired at open */
	spit(f->path, p, n - 10);
	{
		const char *last = p + n - 1;
		char side[128], *cut;
		size_t keep, cn;

		while (last > p && last[-1] != '\n')
			last--;
		keep = (size_t)(last - p);
		(void)snprintf(side, sizeof(side), "%s.cut-%zu", f->path, keep);
		assert_eml_ok(eml_audit_open(&a, f->path));
		eml_audit_head(&a, head, &seq);
		assert_int_equal(seq, 5); /* line 5 is now the repair line */
		assert_int_equal(a.repaired_bytes, n - 10 - keep);
		eml_audit_close(&a);
		/* the cut bytes moved aside exactly */
		cut = slurp(side, &cn);
		assert_int_equal(cn, n - 10 - keep);
		assert_memory_equal(cut, p + keep, cn);
		eml_free(cut);
		(void)unlink(side);
		assert_eml_ok(eml_audit_verify_file(f->path, &r));
		assert_int_equal(r.lines, 5);
		assert_int_equal(r.repairs, 1);
		assert_int_equal(r.repair_line, 5);
		eml_free(p);
		p = slurp(f->path, &n);
		assert_non_null(strstr(p, "\"kind\":\"audit_repair\",\"at_seq\":5,"));
		assert_non_null(strstr(p, side + 5)); /* moved_to names the side file */
	}
	/* a last line that is whole but not ours still refuses to open */
	spit(f->path, "not json\n", 9);
	assert_eml(eml_audit_open(&a, f->path), EML_ERR_AUDIT_FORMAT);
	eml_free(p);
}

/* A write that fails (the file size limit, as a full disk would) leaves
 * no partial line, marks the log unhealthy with the reason, loses the
 * line; once writes work again the first line written is an audit_gap
 * line and the chain verifies. */
static void
write_failure_gap_and_recovery(void **state)
{
	struct fixture *f = *state;
	struct eml_audit a;
	struct eml_audit_report r;
	struct eml_audit_health h;
	struct rlimit old, lim;
	struct stat st;
	off_t size;
	char *p;
	size_t n;

	assert_eml_ok(eml_audit_open(&a, f->path));
	assert_eml_ok(EML_AUDIT(&a, "start", NULL, EML_F_STR("listen", "tcp:127.0.0.1:1")));
	assert_true(eml_audit_healthy(&a, &h));
	assert_int_equal(stat(f->path, &st), 0);
	size = st.st_size;
	(void)signal(SIGXFSZ, SIG_IGN);
	assert_int_equal(getrlimit(RLIMIT_FSIZE, &old), 0);
	lim = old;
	lim.rlim_cur = (rlim_t)size + 40; /* room for part of a line */
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &lim), 0);
	assert_eml(EML_AUDIT(&a, "request", NULL, EML_F_U64("bytes_in", 1)), EML_ERR_FILE);
	assert_eml(EML_AUDIT(&a, "request", NULL, EML_F_U64("bytes_in", 2)), EML_ERR_FILE);
	assert_false(eml_audit_healthy(&a, &h));
	assert_false(h.healthy);
	assert_non_null(strstr(h.last_error, "File too large"));
	assert_int_equal(h.lost, 2);
	assert_int_equal(h.write_failures, 2);
	assert_int_equal(stat(f->path, &st), 0);
	assert_int_equal(st.st_size, size); /* nothing partial left */
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &old), 0);
	assert_true(eml_audit_healthy(&a, &h));
	assert_int_equal(h.lost, 0);
	assert_string_equal(h.last_error, "");
	assert_eml_ok(EML_AUDIT(&a, "request", NULL, EML_F_U64("bytes_in", 3)));
	eml_audit_close(&a);
	assert_eml_ok(eml_audit_verify_file(f->path, &r));
	assert_int_equal(r.lines, 3);
	assert_int_equal(r.gaps, 1);
	p = slurp(f->path, &n);
	assert_non_null(strstr(p, "\"kind\":\"audit_gap\",\"lost\":2,\"error\":\"write: File too large\""));
	eml_free(p);
}

/* Hostile strings stay on one line and stay JSON; oversize lines are
 * refused without writing anything. */
static void
escaping_and_size(void **state)
{
	struct fixture *f = *state;
	struct eml_audit a;
	struct eml_audit_report r;
	char *big;
	size_t n;
	char *p;
	json_t *o;
	json_error_t jerr;

	assert_eml_ok(eml_audit_open(&a, f->path));
	assert_eml_ok(EML_AUDIT(&a, "conn", NULL, EML_F_STR("peer", "a\"b\\c\nd\x01\xff"),
	    EML_F_STR("none", NULL), EML_F_BOOL("ok", true), EML_F_I64("neg", -5)));
	big = eml_alloc(EML_AUDIT_LINE_MAX + 1);
	assert_non_null(big);
	memset(big, 'x', EML_AUDIT_LINE_MAX);
	big[EML_AUDIT_LINE_MAX] = '\0';
	assert_eml(EML_AUDIT(&a, "conn", NULL, EML_F_STR("peer", big)), EML_ERR_PROTO_TOO_LARGE);
	eml_audit_close(&a);
	eml_free(big);

	assert_eml_ok(eml_audit_verify_file(f->path, &r));
	assert_int_equal(r.lines, 1);
	p = slurp(f->path, &n);
	o = json_loadb(p, n - 1, 0, &jerr);
	assert_non_null(o);
	assert_string_equal(json_string_value(json_object_get(o, "peer")),
	    "a\"b\\c\nd\x01\xc3\xbf");
	assert_true(json_is_null(json_object_get(o, "none")));
	assert_true(json_is_true(json_object_get(o, "ok")));
	assert_int_equal(json_integer_value(json_object_get(o, "neg")), -5);
	json_decref(o);
	eml_free(p);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(chain_verifies_and_matches_openssl, setup, teardown),
		cmocka_unit_test_setup_teardown(edited_line_is_caught, setup, teardown),
		cmocka_unit_test_setup_teardown(removed_line_is_caught, setup, teardown),
		cmocka_unit_test_setup_teardown(reordered_lines_are_caught, setup, teardown),
		cmocka_unit_test_setup_teardown(cut_tail, setup, teardown),
		cmocka_unit_test_setup_teardown(garbage_is_a_format_error, setup, teardown),
		cmocka_unit_test_setup_teardown(reopen_resumes_chain, setup, teardown),
		cmocka_unit_test_setup_teardown(write_failure_gap_and_recovery, setup, teardown),
		cmocka_unit_test_setup_teardown(escaping_and_size, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
