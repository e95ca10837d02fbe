/*
 * eml policy show FILE [--json]
 *     the agent policy manifest FILE as the agent reads it: every rule,
 *     defaults included, and its digest (the attestation document's
 *     user_data, what a client policy pins as "policy_digest"). --json
 *     prints {"digest": HEX, "manifest": EFFECTIVE} where EFFECTIVE is
 *     the canonical text the digest covers (model/eml_manifest.h).
 */
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "eml_buf.h"
#include "eml_json.h"
#include "model/eml_manifest.h"

static void
print_hex_line(const char *label, const uint8_t *p, size_t n)
{
	char hex[2 * EML_MANIFEST_ID_LEN + 1];

	eml_hex_encode(hex, p, n);
	printf("  %-18s %s\n", label, hex);
}

static void
print_count(const char *label, uint64_t v, const char *zero)
{
	if (v == 0)
		printf("  %-18s %s\n", label, zero);
	else
		printf("  %-18s %llu\n", label, (unsigned long long)v);
}

static void
print_human(const char *path, const struct eml_manifest *m)
{
	printf("policy manifest %s\n", path);
	print_hex_line("digest", m->digest, sizeof(m->digest));
	printf("  %-18s %zu pinned%s\n", "models", m->n_models,
	    m->n_models == 0 ? " (a model needs a publisher's signature)" : "");
	for (size_t i = 0; i < m->n_models; i++)
		print_hex_line("", m->models[i], EML_MANIFEST_ID_LEN);
	printf("  %-18s %zu allowed signer%s (key ids)\n", "publishers", m->n_publishers,
	    m->n_publishers == 1 ? "" : "s");
	for (size_t i = 0; i < m->n_publishers; i++)
		print_hex_line("", m->publisher_ids[i], EML_MANIFEST_ID_LEN);
	printf("  %-18s %s\n", "strict", m->strict ?
	    "yes: every model needs a valid signature by a publisher" :
	    "no: a pinned model runs without a signature");
	printf("  %-18s %s\n", "assembly", m->assembly == EML_ASSEMBLY_PER_SESSION ?
	    "session: the model is kept for the session, wiped at its end" :
	    "request: weights and activations wiped after every request");
	if (m->n_ops == 0) {
		printf("  %-18s every operator the engine runs\n", "operators");
	} else {
		printf("  %-18s %zu allowed:", "operators", m->n_ops);
		for (size_t i = 0; i < m->n_ops; i++)
			printf(" %s", m->ops[i]);
		printf("\n");
	}
	print_count("requests/session", m->max_requests, "unlimited");
	print_count("requests/minute", m->max_requests_per_minute, "unlimited (per session)");
	printf("  %-18s %llu bytes (the whole sealed response message)\n", "max response",
	    (unsigned long long)m->max_response_bytes);
	printf("  %-18s declared outputs only: no intermediate tensor, no debug output\n",
	    "output rule");
	if (m->n_schema == 0)
		printf("  %-18s none (any declared outputs)\n", "output schema");
	for (size_t i = 0; i < m->n_schema; i++) {
		printf("  %-18s [%zu] %s [", i == 0 ? "output schema" : "", i,
		    eml_dtype_name(m->schema[i].dtype));
		for (int j = 0; j < m->schema[i].rank; j++)
			printf("%s%lld", j == 0 ? "" : ", ", (long long)m->schema[i].dims[j]);
		printf("]\n");
	}
	printf("  limits\n");
	printf("    %-24s %llu\n", "max_topology_bytes", (unsigned long long)m->max_topology_bytes);
	printf("    %-24s %llu\n", "max_input_bytes", (unsigned long long)m->max_input_bytes);
	printf("    %-24s %llu\n", "max_output_bytes", (unsigned long long)m->max_output_bytes);
	printf("    %-24s %llu\n", "max_weight_bytes", (unsigned long long)m->max_weight_bytes);
	printf("    %-24s %llu\n", "max_nodes", (unsigned long long)m->max_nodes);
	printf("    %-24s %llu\n", "max_tensor_bytes", (unsigned long long)m->max_tensor_bytes);
	printf("    %-24s %llu\n", "max_arena_bytes", (unsigned long long)m->max_arena_bytes);
	printf("    %-24s %llu\n", "memory_budget_bytes",
	    (unsigned long long)m->memory_budget_bytes);
	printf("    %-24s %llu\n", "max_session_bytes", (unsigned long long)m->max_session_bytes);
	printf("    %-24s %llu%s\n", "max_sessions", (unsigned long long)m->max_sessions,
	    m->max_sessions == 0 ? " (the agent's --max-sessions)" : "");
	printf("    %-24s %llu\n", "max_infer_ms", (unsigned long long)m->max_infer_ms);
}

static int
policy_show(const char *path, bool json)
{
	struct eml_manifest m;
	struct eml_buf b;
	char hex[2 * EML_MANIFEST_DIGEST_LEN + 1];
	eml_err rc;

	if ((rc = eml_manifest_load(path, &m)) != EML_OK)
		return eml_cli_fail("policy show", rc);
	if (!json) {
		print_human(path, &m);
		eml_manifest_clear(&m);
		return 0;
	}
	eml_buf_init(&b, EML_JSON_DIGEST_MAX);
	rc = eml_manifest_json(&m, &b);
	if (rc == EML_OK) {
		eml_hex_encode(hex, m.digest, sizeof(m.digest));
		printf("{\"digest\":\"%s\",\"manifest\":%.*s}\n", hex, (int)b.len,
		    (const char *)b.data);
	}
	eml_buf_free_nowipe(&b);
	eml_manifest_clear(&m);
	return rc == EML_OK ? 0 : eml_cli_fail("policy show", rc);
}

static int
cmd_show(const struct eml_args *a)
{
	return policy_show(a->pos[0], eml_args_has(a, "json"));
}

static const struct eml_opt show_opts[] = {
	{ "json", 0, EML_OPT_FLAG, NULL,
	    "{\"digest\": HEX, \"manifest\": the canonical text the digest covers}", 0, 0, NULL,
	    0 },
};
static const struct eml_cmd show_cmd = { .name = "show", .args = "FILE",
	.summary = "an agent policy manifest as the agent reads it: every rule, defaults "
		   "included, and its digest (what a client policy pins as policy_digest)",
	.opts = show_opts, .n_opts = EML_OPT_N(show_opts), .min_pos = 1, .max_pos = 1,
	.run = cmd_show };
static const struct eml_cmd *const policy_subs[] = { &show_cmd };

const struct eml_cmd eml_cli_policy = { .name = "policy",
	.summary = "agent policy manifests: show (rules and digest)", .subs = policy_subs,
	.n_subs = EML_OPT_N(policy_subs) };
