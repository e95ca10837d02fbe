/*
 * Memory: every allocation in the project goes through here (STYLE §24).
 *
 * - eml_alloc/eml_calloc/eml_free: ordinary heap memory. eml_free_wipe()
 *   zeroes before freeing and is what anything that held plaintext uses.
 * - eml_secure_alloc/eml_secure_free: secrets and model material. mlock
 *   (best effort, reported by eml_secure_locked()), MADV_DONTDUMP, guard
 *   pages, and a wipe on free. Outside an arena each block is its own
 *   guarded mapping (libsodium's sodium_malloc; from 2 MiB a mapping
 *   committed and locked in whole transparent huge pages, as arena
 *   segments are); on a thread with an arena
 *   (the agent's sessions) blocks share the arena's guarded segments.
 *
 * Test hooks: eml_mem_fail_after(n) makes the n-th following allocation
 * (counting from 1) fail, so error paths can be driven one by one; and a
 * wipe observer sees each secure region, and each block given to
 * eml_free_wipe, just after it is wiped and before it is released, so tests
 * can prove nothing survives.
 */
#ifndef EML_MEM_H
#define EML_MEM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "eml_err.h"

/* Initialises libsodium; safe to call more than once, from any thread.
 * Returns EML_OK or EML_ERR_CRYPTO. */
eml_err eml_mem_init(void) EML_MUST_USE;

void *eml_alloc(size_t n);
/* Zeroed; NULL on overflow of nmemb * size. */
void *eml_calloc(size_t nmemb, size_t size);
/* Like realloc; on failure the old block is untouched and NULL returned.
 * Not for secrets: the old block is not wiped. */
void *eml_realloc(void *p, size_t n);
void eml_free(void *p);
/* Zero n bytes at p, then free. */
void eml_free_wipe(void *p, size_t n);
/* strdup through eml_alloc. */
char *eml_strdup(const char *s);

/* From the calling thread's arena when it has one (eml_arena_use), else
 * a guarded block of its own. Zeroed. eml_secure_free takes either kind,
 * from any thread. */
void *eml_secure_alloc(size_t n);
void eml_secure_free(void *p);
/*
 * A secure block that may later grow in place up to max bytes (weights
 * assembled chunk by chunk, docs/SEALED_BLOB.md): from the calling
 * thread's arena, at the top of a segment whose address space has room
 * for max; only n bytes are committed (locked, counted against the
 * arena's limit and the budget) now. Without an arena, an ordinary
 * eml_secure_alloc(n). NULL when a block of max could never fit the
 * arena's limit, or out of memory. Zeroed.
 * eml_secure_grow extends p to n bytes in place, committing what the
 * growth needs; the new bytes are zeroed. false (p unchanged) when the
 * block is not an arena block at the top of its segment any more, or
 * the limit or budget refuses: the caller then allocates anew and copies.
 */
void *eml_secure_alloc_growable(size_t n, size_t max);
bool eml_secure_grow(void *p, size_t n);

/*
 * Session arenas: one locked, wiped, guarded region (a few segments) per
 * session instead of a mapping per secure allocation. A thread that
 * calls eml_arena_use(a) gets its eml_secure_alloc blocks from a until it
 * calls eml_arena_use(NULL) (or another arena). limit caps the bytes the
 * arena may commit over all its segments (0: none); past it, and past
 * the address space, eml_secure_alloc returns NULL. eml_arena_free wipes
 * every committed byte, unlocks and unmaps: every block from the arena
 * must be freed (or abandoned) by then.
 */
struct eml_arena;
struct eml_arena_stats {
	unsigned segments; /* each costs three mappings */
	size_t committed;  /* read-write (and locked, when locked) bytes */
	size_t in_use;     /* bytes in live blocks, headers included */
	size_t peak;       /* highest in_use */
	bool locked;       /* every commit so far got locked */
};
eml_err eml_arena_new(size_t limit, struct eml_arena **out) EML_MUST_USE;
void eml_arena_free(struct eml_arena *a);
/*
 * Empty a for another session instead of freeing it, when it is small:
 * one segment with at most keep committed bytes. It is wiped as
 * eml_arena_free wipes it (below the bump; every committed byte above it
 * is zero by the arena's invariant), and a holds nothing afterwards
 * (no block, no free list, peak 0, the calling thread's arena unset if
 * it was a); what stays is the mapping and its committed pages, locked
 * and counted against the budget, so the next session neither maps nor
 * faults them in again. false, a untouched, when it does not qualify:
 * free it then.
 */
bool eml_arena_recycle(struct eml_arena *a, size_t keep) EML_MUST_USE;
/* Set the calling thread's arena (NULL: none); returns the previous. */
struct eml_arena *eml_arena_use(struct eml_arena *a);
void eml_arena_stats(struct eml_arena *a, struct eml_arena_stats *st);
/* The calling thread's arena (NULL: none). */
struct eml_arena *eml_arena_current(void);
/*
 * Test hook: fn for every committed byte range of a, under its lock, in
 * address order per segment: the user bytes of each live block (live)
 * and the free memory (free blocks past their header, and everything
 * above top). Block headers are not shown. fn must not allocate.
 */
void eml_arena_walk(struct eml_arena *a,
    void (*fn)(const uint8_t *p, size_t n, bool live, void *arg), void *arg);
/*
 * A budget for the bytes all arenas together may commit (0, the default:
 * none). An arena that would grow past it does not: eml_secure_alloc
 * returns NULL, and eml_arena_budget_hit() is then true on that thread
 * (the agent answers "busy" instead of running out of memory). clear
 * resets the flag. eml_arena_budget_used is what is committed now.
 */
void eml_arena_budget_set(size_t total);
size_t eml_arena_budget_used(void);
bool eml_arena_budget_hit(bool clear);
/* Mappings one arena may take at most, and the address space its first
 * segment reserves (for the start-up check against process limits). */
size_t eml_arena_mappings_max(void);
size_t eml_arena_reserve_first(void);
/* Whether the last eml_secure_alloc on this process got its pages locked. */
bool eml_secure_locked(void);

/* Wipe that the compiler cannot drop. */
void eml_wipe(void *p, size_t n);

/* Clear what this thread's stack held below the caller's frame: the pages
 * under it are given back (MADV_DONTNEED: zero on the next touch) and the
 * last EML_STACK_NEAR bytes wiped by hand. For a thread that outlives the
 * work whose secrets its frames held (the agent's session threads wait for
 * the next connection); glibc gives the same pages back when a thread
 * ends, which is why ending threads never needed it. */
#define EML_STACK_NEAR (16u * 1024u)
void eml_stack_scrub(void);

/* Test hooks. n <= 0 disables the failure injection. The countdown is
 * what is left of n: n less the allocations made since (a test counts
 * them with a large n). */
void eml_mem_fail_after(long n);
long eml_mem_fail_countdown(void);
typedef void (*eml_wipe_observer)(const void *p, size_t n, void *arg);
void eml_mem_set_wipe_observer(eml_wipe_observer fn, void *arg);

#endif
