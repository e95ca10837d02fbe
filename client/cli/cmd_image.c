/*
 * eml image: enclave images (EIF) and their measurements.
 *
 *   eml image measure FILE.eif [--json]
 *   eml image measure --kernel FILE --cmdline TEXT --ramdisk FILE... [--json]
 *             (predict: the PCRs of an image that does not exist yet)
 *   eml image policy FILE.eif --root PEM [--policy-digest HEX]
 *             [--max-age SEC]           the client policy pinning this image
 *   eml image build --kernel FILE --cmdline TEXT --ramdisk FILE... --out FILE
 *             [--name N] [--image-version V] [--build-time EPOCH]
 *             [--arch x86_64|aarch64] [--signing-cert PEM --signing-key PEM]
 *   eml image ramdisk --out FILE [--dir NAME]... [--file NAME=SRC]...
 *             [--char NAME=MAJOR:MINOR]...   (deterministic cpio, in order)
 *
 * JSON follows nitro-cli: `describe-eif` for a file, `build-enclave`
 * ({"Measurements": ...}) for a prediction or a build. Exit codes (DESIGN
 * §9): 0 ok, 1 an image the reader refuses, 2 usage, 3 I/O.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <jansson.h>
#include <sodium.h>

#include "attestation/eml_attest.h"
#include "cli.h"
#include "eif-build/eml_cpio.h"
#include "eif-build/eml_eif.h"
#include "eml_buf.h"
#include "eml_file.h"
#include "eml_mem.h"
#include "eml_num.h"

#define MAX_RAMDISKS 8
#define MAX_ENTRIES 64
#define PEM_MAX 65536
#define RAMDISK_BUF_MAX (1ull << 30)

/* After a message that says what is wrong. */
static int
usage(void)
{
	fprintf(stderr, "Try 'eml image <command> --help'.\n");
	return 2;
}

/* A whole file into a fresh buffer (eml_file.h does the bounded read). */
static eml_err
slurp(const char *path, size_t max, struct eml_buf *out)
{
	eml_buf_init(out, max);
	return eml_file_read_buf(path, max, 0, out);
}

static json_t *
hex_json(const uint8_t *p, size_t n)
{
	char h[2 * EML_EIF_PCR_LEN + 1];

	eml_hex_encode(h, p, n);
	return json_string(h);
}

static json_t *
measurements_json(uint8_t pcr[3][EML_EIF_PCR_LEN], const uint8_t *pcr8)
{
	json_t *m = json_object();

	/* nitro-cli prints the Debug form of its hasher here. */
	json_object_set_new(m, "HashAlgorithm", json_string("Sha384 { ... }"));
	json_object_set_new(m, "PCR0", hex_json(pcr[0], EML_EIF_PCR_LEN));
	json_object_set_new(m, "PCR1", hex_json(pcr[1], EML_EIF_PCR_LEN));
	json_object_set_new(m, "PCR2", hex_json(pcr[2], EML_EIF_PCR_LEN));
	if (pcr8 != NULL)
		json_object_set_new(m, "PCR8", hex_json(pcr8, EML_EIF_PCR_LEN));
	return m;
}

static void
print_json(json_t *o)
{
	(void)json_dumpf(o, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
	printf("\n");
	json_decref(o);
}

static void
print_pcrs(uint8_t pcr[3][EML_EIF_PCR_LEN], const uint8_t *pcr8)
{
	char h[2 * EML_EIF_PCR_LEN + 1];

	for (int i = 0; i < 3; i++) {
		eml_hex_encode(h, pcr[i], EML_EIF_PCR_LEN);
		printf("PCR%d  %s\n", i, h);
	}
	if (pcr8 != NULL) {
		eml_hex_encode(h, pcr8, EML_EIF_PCR_LEN);
		printf("PCR8  %s\n", h);
	}
}

/* describe-eif's Metadata: BuildMetadata's fields, DockerInfo, and the
 * CustomMetadata object flattened in. */
static json_t *
describe_json(const struct eml_eif_info *info)
{
	json_t *o = json_object(), *md = NULL, *meta = json_object();
	json_error_t jerr;

	json_object_set_new(o, "EifVersion", json_integer(info->version));
	json_object_set_new(o, "Measurements",
	    measurements_json((uint8_t (*)[EML_EIF_PCR_LEN])(uintptr_t)info->pcr,
		info->is_signed ? info->pcr8 : NULL));
	json_object_set_new(o, "IsSigned", json_boolean(info->is_signed));
	json_object_set_new(o, "CheckCRC", json_true());
	if (info->metadata.len != 0)
		md = json_loadb((const char *)info->metadata.data, info->metadata.len, 0, &jerr);
	if (md != NULL) {
		json_t *bm = json_object_get(md, "BuildMetadata");
		json_t *custom = json_object_get(md, "CustomMetadata");

		json_object_set(o, "ImageName", json_object_get(md, "ImageName"));
		json_object_set(o, "ImageVersion", json_object_get(md, "ImageVersion"));
		if (json_is_object(bm))
			(void)json_object_update(meta, bm);
		json_object_set(meta, "DockerInfo", json_object_get(md, "DockerInfo"));
		if (json_is_object(custom))
			(void)json_object_update(meta, custom);
		json_object_set(o, "Metadata", meta);
	}
	json_decref(meta);
	json_decref(md);
	return o;
}

static int
measure_file(const char *path, bool as_json)
{
	struct eml_eif_info info;
	eml_err rc = eml_eif_measure_file(path, &info);

	if (rc != EML_OK) {
		eml_eif_info_free(&info);
		return eml_cli_fail(path, rc);
	}
	if (as_json) {
		print_json(describe_json(&info));
	} else {
		printf("EIF version %u, %s, %u sections (%zu ramdisks), %llu bytes, CRC ok%s\n",
		    info.version, (info.flags & EML_EIF_FLAG_ARM64) ? "aarch64" : "x86_64",
		    info.num_sections, info.ramdisks, (unsigned long long)info.file_size,
		    info.is_signed ? ", signed" : "");
		print_pcrs(info.pcr, info.is_signed ? info.pcr8 : NULL);
	}
	eml_eif_info_free(&info);
	return 0;
}

struct image_args {
	const char *eif;
	const char *kernel;
	const char *cmdline;
	const char *ramdisk[MAX_RAMDISKS];
	size_t ramdisks;
	const char *out;
	const char *name;
	const char *version;
	const char *build_time;
	const char *arch;
	const char *cert;
	const char *key;
	const char *root;
	const char *digest;
	const char *max_age;
	bool json;
};

/* The option of name when this command has it, else NULL. */
static const char *
opt(const struct eml_args *ar, const char *name)
{
	return eml_args_known(ar, name) ? eml_args_str(ar, name) : NULL;
}

/* Options shared by measure, build and policy. */
static int
parse_image_args(const struct eml_args *ar, struct image_args *a)
{
	memset(a, 0, sizeof(*a));
	a->eif = ar->n_pos > 0 ? ar->pos[0] : NULL;
	a->kernel = opt(ar, "kernel");
	a->cmdline = opt(ar, "cmdline");
	a->out = opt(ar, "out");
	a->name = opt(ar, "name");
	a->version = opt(ar, "image-version");
	a->build_time = opt(ar, "build-time");
	a->arch = opt(ar, "arch");
	a->cert = opt(ar, "signing-cert");
	a->key = opt(ar, "signing-key");
	a->root = opt(ar, "root");
	a->digest = opt(ar, "policy-digest");
	a->max_age = opt(ar, "max-age");
	a->json = eml_args_known(ar, "json") && eml_args_has(ar, "json");
	if (eml_args_known(ar, "ramdisk")) {
		a->ramdisks = eml_args_count(ar, "ramdisk");
		if (a->ramdisks > MAX_RAMDISKS)
			return eml_args_usage(ar, "at most %d ramdisks", MAX_RAMDISKS);
		for (size_t i = 0; i < a->ramdisks; i++)
			a->ramdisk[i] = eml_args_nth(ar, "ramdisk", i);
	}
	return 0;
}

/* The spec of --kernel/--cmdline/--ramdisk; ramdisk blobs live in rd. */
static int
spec_from_args(const struct image_args *a, struct eml_eif_spec *spec,
    struct eml_eif_blob rd[MAX_RAMDISKS])
{
	memset(spec, 0, sizeof(*spec));
	if (a->kernel == NULL || a->cmdline == NULL || a->ramdisks == 0) {
		fprintf(stderr, "eml image: --kernel, --cmdline and at least one --ramdisk are "
				"required\n");
		return -1;
	}
	/* nitro-cli trims its cmdline file; a cmdline we would store with a
	 * newline or a NUL would not be the one its users expect. */
	if (strchr(a->cmdline, '\n') != NULL || strlen(a->cmdline) > EML_EIF_CMDLINE_MAX) {
		fprintf(stderr, "eml image: --cmdline: one line, at most %u bytes\n",
		    EML_EIF_CMDLINE_MAX);
		return -1;
	}
	spec->kernel.path = a->kernel;
	spec->cmdline.p = (const uint8_t *)a->cmdline;
	spec->cmdline.n = strlen(a->cmdline);
	for (size_t i = 0; i < a->ramdisks; i++) {
		memset(&rd[i], 0, sizeof(rd[i]));
		rd[i].path = a->ramdisk[i];
	}
	spec->ramdisks = rd;
	spec->ramdisk_count = a->ramdisks;
	spec->default_mem = 1ull << 30;
	spec->default_cpus = 2;
	if (a->arch != NULL && strcmp(a->arch, "aarch64") == 0)
		spec->flags = EML_EIF_FLAG_ARM64;
	else if (a->arch != NULL && strcmp(a->arch, "x86_64") != 0) {
		fprintf(stderr, "eml image: --arch x86_64 or aarch64\n");
		return -1;
	}
	return 0;
}

static eml_err
pcr8_of_cert(const char *path, uint8_t out[EML_EIF_PCR_LEN])
{
	struct eml_buf pem;
	eml_err rc;

	EML_GUARD(slurp(path, PEM_MAX, &pem));
	rc = eml_eif_pcr8_from_pem(pem.data, pem.len, out);
	eml_buf_free_nowipe(&pem);
	return rc;
}

static int
cmd_measure(const struct eml_args *ar)
{
	struct image_args a;
	struct eml_eif_spec spec;
	struct eml_eif_blob rd[MAX_RAMDISKS];
	uint8_t pcr[3][EML_EIF_PCR_LEN], pcr8[EML_EIF_PCR_LEN];
	eml_err rc;

	if (parse_image_args(ar, &a) != 0)
		return usage();
	if (a.eif != NULL) {
		if (a.kernel != NULL || a.ramdisks != 0 || a.cmdline != NULL) {
			fprintf(stderr, "eml image measure: a file or --kernel/--cmdline/--ramdisk, "
					"not both\n");
			return usage();
		}
		return measure_file(a.eif, a.json);
	}
	if (spec_from_args(&a, &spec, rd) != 0)
		return usage();
	if ((rc = eml_eif_predict(&spec, pcr)) != EML_OK)
		return eml_cli_fail("image measure", rc);
	if (a.cert != NULL && (rc = pcr8_of_cert(a.cert, pcr8)) != EML_OK)
		return eml_cli_fail(a.cert, rc);
	if (a.json) {
		json_t *o = json_object();
		json_object_set_new(o, "Measurements", measurements_json(pcr, a.cert ? pcr8 : NULL));
		print_json(o);
	} else {
		print_pcrs(pcr, a.cert != NULL ? pcr8 : NULL);
	}
	return 0;
}

/* BuildTime as nitro-cli writes it (RFC 3339, seconds, UTC). */
static int
build_time(const char *arg, char *dst, size_t n)
{
	const char *s = arg != NULL ? arg : getenv("SOURCE_DATE_EPOCH");
	uint64_t v = 0;
	time_t t;
	struct tm tm;

	/* Up to 9999-12-31T23:59:59Z. */
	if (s != NULL && eml_num_u64(s, 0, 253402300799ull, &v) != EML_OK) {
		fprintf(stderr, "eml image build: build time must be epoch seconds: %s\n", s);
		return -1;
	}
	t = (time_t)v;
	if (gmtime_r(&t, &tm) == NULL || strftime(dst, n, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		return -1;
	return 0;
}

static eml_err
metadata_json(const struct image_args *a, const char *when, struct eml_buf *out)
{
	json_t *o = json_object(), *bm = json_object();
	size_t need;
	uint8_t *where = NULL;
	eml_err rc = EML_OK;

	json_object_set_new(o, "ImageName", json_string(a->name != NULL ? a->name : "eml-agent"));
	json_object_set_new(o, "ImageVersion",
	    json_string(a->version != NULL ? a->version : "0"));
	json_object_set_new(bm, "BuildTime", json_string(when));
	json_object_set_new(bm, "BuildTool", json_string("eml image build"));
	json_object_set_new(bm, "BuildToolVersion", json_string("1"));
	json_object_set_new(bm, "OperatingSystem", json_string("linux"));
	json_object_set_new(bm, "KernelVersion", json_string("unknown"));
	json_object_set_new(o, "BuildMetadata", bm);
	json_object_set_new(o, "DockerInfo", json_null());
	json_object_set_new(o, "CustomMetadata", json_null());
	/* Compact, keys in insertion order: the same bytes on every build. */
	eml_buf_init(out, EML_EIF_METADATA_MAX);
	need = json_dumpb(o, NULL, 0, JSON_COMPACT | JSON_PRESERVE_ORDER);
	if (need == 0 || (rc = eml_buf_extend(out, need, &where)) != EML_OK ||
	    json_dumpb(o, (char *)where, need, JSON_COMPACT | JSON_PRESERVE_ORDER) != need)
		rc = rc != EML_OK ? rc : EML_ERR_INTERNAL;
	json_decref(o);
	return rc;
}

/* The signature section for an image whose PCR0 is pcr0. */
static eml_err
sign_image(const char *cert, const char *key, const uint8_t pcr0[EML_EIF_PCR_LEN],
    struct eml_buf *sect)
{
	struct eml_buf pem, keypem, payload, cose;
	uint8_t pcr8[EML_EIF_PCR_LEN];
	eml_err rc;

	eml_buf_init_secure(&keypem, PEM_MAX);
	eml_buf_init(&payload, 4096);
	eml_buf_init(&cose, EML_EIF_SIGNATURE_MAX);
	eml_buf_init(sect, EML_EIF_SIGNATURE_MAX);
	EML_GUARD(slurp(cert, PEM_MAX, &pem));
	if ((rc = eml_eif_pcr8_from_pem(pem.data, pem.len, pcr8)) != EML_OK ||
	    (rc = eml_file_read_buf(key, PEM_MAX, EML_FILE_SECRET, &keypem)) != EML_OK ||
	    (rc = eml_eif_pcr_payload(0, pcr0, &payload)) != EML_OK ||
	    (rc = eml_eif_cose_sign(keypem.data, keypem.len, payload.data, payload.len, &cose)) !=
		EML_OK)
		goto out;
	rc = eml_eif_sig_encode(pem.data, pem.len, cose.data, cose.len, sect);
out:
	eml_buf_free_nowipe(&pem);
	eml_buf_free(&keypem);
	eml_buf_free_nowipe(&payload);
	eml_buf_free_nowipe(&cose);
	return rc;
}

static int
cmd_build(const struct eml_args *ar)
{
	struct image_args a;
	struct eml_eif_spec spec;
	struct eml_eif_blob rd[MAX_RAMDISKS];
	uint8_t pcr[3][EML_EIF_PCR_LEN];
	struct eml_buf meta, sig;
	struct eml_eif_info info;
	char when[32];
	eml_err rc;
	int ret = 0;

	if (parse_image_args(ar, &a) != 0 || a.eif != NULL || a.out == NULL ||
	    spec_from_args(&a, &spec, rd) != 0 || build_time(a.build_time, when, sizeof(when)) != 0)
		return usage();
	if ((a.cert == NULL) != (a.key == NULL)) {
		fprintf(stderr, "eml image build: --signing-cert and --signing-key go together\n");
		return usage();
	}
	eml_buf_init(&sig, EML_EIF_SIGNATURE_MAX);
	if ((rc = metadata_json(&a, when, &meta)) != EML_OK)
		return eml_cli_fail("image build", rc);
	spec.metadata.p = meta.data;
	spec.metadata.n = meta.len;
	if ((rc = eml_eif_predict(&spec, pcr)) != EML_OK) {
		ret = eml_cli_fail("image build", rc);
		goto out;
	}
	if (a.cert != NULL) {
		if ((rc = sign_image(a.cert, a.key, pcr[0], &sig)) != EML_OK) {
			ret = eml_cli_fail("image build: signing", rc);
			goto out;
		}
		spec.signature.p = sig.data;
		spec.signature.n = sig.len;
	}
	if ((rc = eml_eif_write(&spec, a.out)) != EML_OK) {
		ret = eml_cli_fail(a.out, rc);
		goto out;
	}
	/* Read back what was written: the file must measure as predicted. */
	rc = eml_eif_measure_file(a.out, &info);
	if (rc == EML_OK && sodium_memcmp(info.pcr, pcr, sizeof(pcr)) != 0)
		rc = EML_ERR_INTERNAL;
	if (rc != EML_OK) {
		eml_eif_info_free(&info);
		ret = eml_cli_fail("image build: written image does not measure as predicted", rc);
		goto out;
	}
	{
		json_t *o = json_object();
		json_object_set_new(o, "Measurements",
		    measurements_json(info.pcr, info.is_signed ? info.pcr8 : NULL));
		print_json(o);
	}
	eml_eif_info_free(&info);
out:
	eml_buf_free_nowipe(&meta);
	eml_buf_free_nowipe(&sig);
	return ret;
}

/* NAME=VALUE: split in place into a copy; returns the value or NULL. */
static const char *
split_eq(const char *arg, char *name, size_t n)
{
	const char *eq = strchr(arg, '=');

	if (eq == NULL || (size_t)(eq - arg) >= n || eq == arg || eq[1] == '\0')
		return NULL;
	EML_MEMCPY(name, arg, (size_t)(eq - arg));
	name[eq - arg] = '\0';
	return eq + 1;
}

static eml_err
ramdisk_entry(struct eml_cpio *c, const char *kind, const char *arg)
{
	char name[EML_CPIO_NAME_MAX + 1];
	const char *v;

	if (strcmp(kind, "--dir") == 0)
		return eml_cpio_dir(c, arg, 0755);
	v = split_eq(arg, name, sizeof(name));
	if (v == NULL) {
		eml_err_set_detail("%s %s: want NAME=VALUE", kind, arg);
		EML_BAIL(EML_ERR_USAGE);
	}
	if (strcmp(kind, "--char") == 0) {
		unsigned maj = 0, min = 0;
		char end = 0;
		if (sscanf(v, "%u:%u%c", &maj, &min, &end) != 2) {
			eml_err_set_detail("--char %s: want NAME=MAJOR:MINOR", arg);
			EML_BAIL(EML_ERR_USAGE);
		}
		return eml_cpio_char(c, name, 0600, maj, min);
	} else {
		struct eml_buf data;
		struct stat st;
		eml_err rc;

		/* Executables keep 0755, everything else is 0644: the mode
		 * is in PCR2, so it must not depend on the builder's umask. */
		if (stat(v, &st) != 0) {
			eml_err_set_detail("%s: %s", v, strerror(errno));
			EML_BAIL(EML_ERR_FILE);
		}
		EML_GUARD(slurp(v, RAMDISK_BUF_MAX, &data));
		rc = eml_cpio_file(c, name, (st.st_mode & 0100) ? 0755 : 0644, data.data, data.len);
		eml_buf_free_nowipe(&data);
		return rc;
	}
}

static int
cmd_ramdisk(const struct eml_args *ar)
{
	struct eml_buf out;
	struct eml_cpio c;
	const char *path = eml_args_str(ar, "out");
	FILE *f;
	eml_err rc = EML_OK;
	int ret = 0;

	eml_buf_init(&out, RAMDISK_BUF_MAX);
	eml_cpio_init(&c, &out);
	/* the entries in command-line order: the order is in the measurement */
	for (size_t i = 0; rc == EML_OK && i < ar->n_ent; i++) {
		char kind[16];
		const char *name = ar->cmd->opts[ar->ent[i].opt].name;

		if (strcmp(name, "out") == 0)
			continue;
		(void)snprintf(kind, sizeof(kind), "--%s", name);
		rc = ramdisk_entry(&c, kind, ar->ent[i].val);
	}
	if (rc == EML_OK)
		rc = eml_cpio_end(&c);
	if (rc != EML_OK) {
		eml_buf_free_nowipe(&out);
		return eml_cli_fail("image ramdisk", rc);
	}
	f = fopen(path, "wb");
	if (f == NULL || fwrite(out.data, 1, out.len, f) != out.len) {
		fprintf(stderr, "eml image ramdisk: %s: %s\n", path, strerror(errno));
		ret = 3;
	}
	if (f != NULL && fclose(f) != 0 && ret == 0) {
		fprintf(stderr, "eml image ramdisk: %s: %s\n", path, strerror(errno));
		ret = 3;
	}
	eml_buf_free_nowipe(&out);
	return ret;
}

static int
cmd_policy(const struct eml_args *ar)
{
	struct image_args a;
	struct eml_eif_info info;
	struct eml_buf pem;
	struct eml_attest_root *root = NULL;
	uint8_t digest[32];
	uint64_t max_age = 300;
	json_t *o, *pcrs;
	eml_err rc;

	if (parse_image_args(ar, &a) != 0 || a.eif == NULL || a.root == NULL)
		return usage();
	if (a.digest != NULL && eml_hex_decode(digest, sizeof(digest), a.digest) != EML_OK) {
		fprintf(stderr, "eml image policy: --policy-digest: 64 hex digits "
				"(eml-agent --policy-digest prints it)\n");
		return usage();
	}
	if (a.max_age != NULL && eml_num_u64(a.max_age, 1, 86400, &max_age) != EML_OK) {
		fprintf(stderr, "eml image policy: --max-age: 1..86400 seconds\n");
		return usage();
	}
	if ((rc = slurp(a.root, 8191, &pem)) != EML_OK)
		return eml_cli_fail(a.root, rc);
	/* The root must be a certificate the verifier will load. */
	if ((rc = eml_attest_root_load(pem.data, pem.len, &root)) != EML_OK) {
		eml_buf_free_nowipe(&pem);
		return eml_cli_fail(a.root, rc);
	}
	eml_attest_root_free(root);
	if ((rc = eml_eif_measure_file(a.eif, &info)) != EML_OK) {
		eml_eif_info_free(&info);
		eml_buf_free_nowipe(&pem);
		return eml_cli_fail(a.eif, rc);
	}
	o = json_object();
	pcrs = json_object();
	json_object_set_new(o, "version", json_integer(1));
	json_object_set_new(pcrs, "0", hex_json(info.pcr[0], EML_EIF_PCR_LEN));
	json_object_set_new(pcrs, "1", hex_json(info.pcr[1], EML_EIF_PCR_LEN));
	json_object_set_new(pcrs, "2", hex_json(info.pcr[2], EML_EIF_PCR_LEN));
	if (info.is_signed)
		json_object_set_new(pcrs, "8", hex_json(info.pcr8, EML_EIF_PCR_LEN));
	json_object_set_new(o, "pcrs", pcrs);
	/* Inline, so the policy means the same wherever it is copied. */
	json_object_set_new(o, "trust_root_pem", json_stringn((const char *)pem.data, pem.len));
	json_object_set_new(o, "max_age_seconds", json_integer((json_int_t)max_age));
	if (a.digest != NULL)
		json_object_set_new(o, "policy_digest", hex_json(digest, sizeof(digest)));
	json_object_set_new(o, "allow_debug", json_false());
	json_object_set_new(o, "require_public_key", json_true());
	print_json(o);
	eml_eif_info_free(&info);
	eml_buf_free_nowipe(&pem);
	return 0;
}

#define SPEC_OPTS                                                              \
	{ "kernel", 0, EML_OPT_FILE, "FILE", "the kernel image", 0, 0, NULL, 0 },          \
	    { "cmdline", 0, EML_OPT_STR, "TEXT", "the kernel command line (one line)", 0, 0, \
		NULL, 0 },                                                                \
	    { "ramdisk", 0, EML_OPT_FILE, "FILE", "a ramdisk (cpio), in order", 0, 0, NULL,  \
		EML_OPT_REPEAT },                                                         \
	    { "arch", 0, EML_OPT_CHOICE, "ARCH", "the image architecture", 0, 0,          \
		"x86_64|aarch64", 0 }

static const struct eml_opt measure_opts[] = {
	SPEC_OPTS,
	{ "signing-cert", 0, EML_OPT_FILE, "PEM", "predict PCR8 for this signing certificate",
	    0, 0, NULL, 0 },
	{ "json", 0, EML_OPT_FLAG, NULL,
	    "nitro-cli JSON: describe-eif for a file, build-enclave for a prediction", 0, 0,
	    NULL, 0 },
};
static const struct eml_opt policy_opts[] = {
	{ "root", 0, EML_OPT_FILE, "PEM", "the trust root clients check the chain against", 0, 0,
	    NULL, EML_OPT_REQUIRED },
	{ "policy-digest", 0, EML_OPT_STR, "HEX",
	    "the agent's policy digest (eml-agent --policy-digest)", 0, 0, NULL, 0 },
	{ "max-age", 0, EML_OPT_STR, "SECONDS", "oldest attestation accepted (1..86400, 300)", 0,
	    0, NULL, 0 },
};
static const struct eml_opt build_opts[] = {
	SPEC_OPTS,
	{ "out", 'o', EML_OPT_FILE, "FILE", "the image to write", 0, 0, NULL, EML_OPT_REQUIRED },
	{ "name", 0, EML_OPT_STR, "N", "image name in the metadata", 0, 0, NULL, 0 },
	{ "image-version", 0, EML_OPT_STR, "V", "image version in the metadata", 0, 0, NULL, 0 },
	{ "build-time", 0, EML_OPT_STR, "EPOCH", "build time in the metadata (reproducible "
	    "builds)", 0, 0, NULL, 0 },
	{ "signing-cert", 0, EML_OPT_FILE, "PEM", "sign the image: certificate", 0, 0, NULL, 0 },
	{ "signing-key", 0, EML_OPT_FILE, "PEM", "sign the image: private key", 0, 0, NULL, 0 },
};
static const struct eml_opt ramdisk_opts[] = {
	{ "out", 'o', EML_OPT_FILE, "FILE", "the cpio archive to write", 0, 0, NULL,
	    EML_OPT_REQUIRED },
	{ "dir", 0, EML_OPT_STR, "NAME", "a directory entry", 0, 0, NULL, EML_OPT_REPEAT },
	{ "file", 0, EML_OPT_STR, "NAME=SRC", "a file entry from SRC", 0, 0, NULL,
	    EML_OPT_REPEAT },
	{ "char", 0, EML_OPT_STR, "NAME=MAJOR:MINOR", "a character device entry", 0, 0, NULL,
	    EML_OPT_REPEAT },
};

static const struct eml_cmd measure_cmd = { .name = "measure", .args = "[FILE.eif]",
	.summary = "PCR0, PCR1, PCR2 (and PCR8) of an image file, or predicted from "
		   "--kernel, --cmdline and --ramdisk for an image not built yet",
	.opts = measure_opts, .n_opts = EML_OPT_N(measure_opts), .min_pos = 0, .max_pos = 1,
	.run = cmd_measure };
static const struct eml_cmd policy_cmd = { .name = "policy", .args = "FILE.eif",
	.summary = "the client policy pinning this image (JSON on stdout)",
	.opts = policy_opts, .n_opts = EML_OPT_N(policy_opts), .min_pos = 1, .max_pos = 1,
	.run = cmd_policy };
static const struct eml_cmd build_cmd = { .name = "build",
	.summary = "build an enclave image file (EIF)", .opts = build_opts,
	.n_opts = EML_OPT_N(build_opts), .run = cmd_build };
static const struct eml_cmd ramdisk_cmd = { .name = "ramdisk",
	.summary = "a deterministic cpio ramdisk, entries in command-line order",
	.opts = ramdisk_opts, .n_opts = EML_OPT_N(ramdisk_opts), .run = cmd_ramdisk };
static const struct eml_cmd *const image_subs[] = { &measure_cmd, &policy_cmd, &build_cmd,
	&ramdisk_cmd };

const struct eml_cmd eml_cli_image = { .name = "image",
	.summary = "enclave images: measure, policy, build, ramdisk",
	.text = "JSON follows nitro-cli: describe-eif for a file, build-enclave "
		"({\"Measurements\": ...}) for a prediction or a build.",
	.subs = image_subs, .n_subs = EML_OPT_N(image_subs) };
