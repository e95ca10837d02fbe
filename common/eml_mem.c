#include "eml_mem.h"

#include <pthread.h>
#include <sodium.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

#include "eml_fault.h"

/*
 * Secure blocks carry a 64-byte header in front of the user pointer, so
 * the user pointer is 64-byte aligned for SIMD and eml_secure_free can
 * tell from the magic in the header's last word where the block came
 * from:
 *
 * - SECURE_MAGIC: a block of its own from sodium_malloc (a guard page on
 *   each side, three mappings). Used when the calling thread has no
 *   arena: start-up material, the client and the proxy.
 * - HUGE_MAGIC: a block of 2 MiB or more outside an arena, in a mapping
 *   of its own committed in whole huge pages (huge_block_alloc).
 * - ARENA_MAGIC: a block inside a session arena (below). The size is
 *   rounded up to 64 bytes, so an overrun of less than 64 bytes past the
 *   end may not fault, and an overrun inside an arena lands in the
 *   neighbouring block, not on a guard page.
 */
struct secure_hdr {
	size_t size;
	uint8_t pad[48];
	uint64_t magic; /* last word, same place in both kinds of header */
};
#define SECURE_MAGIC 0x656d6c7365637572ULL /* "emlsecur" */
#define ARENA_MAGIC 0x656d6c6172656e61ULL  /* "emlarena" */
#define FREE_MAGIC 0x656d6c6672656521ULL   /* "emlfree!" */

/*
 * Session arenas. A session's secrets live in a few large reservations
 * (segments) instead of one mapping per allocation: each segment is one
 * anonymous mapping of PROT_NONE with a guard page at each end, made
 * readable and writable, locked and excluded from core dumps from the
 * bottom up as it fills ("committed"). The kernel merges the committed
 * pages into one mapping, so a segment costs three: the low guard, the
 * committed part, and the reserved rest with the high guard. Segments
 * double in size when one is full.
 *
 * Inside a segment, blocks are laid out end to end from the bottom up to
 * top; each starts with a header (size, size of the block below it,
 * user size). A freed block is wiped, merged with free neighbours, and
 * either given back to top or kept on the arena's free list, from which
 * later allocations take the best fit. Invariant: every byte of a free
 * block but its header, and every committed byte above top, is zero, so
 * an allocation is zero without a pass over it. Destroying the arena
 * wipes every committed byte, unlocks and unmaps.
 */
struct arena_seg;

struct arena_blk {
	size_t size;      /* whole block, header included; multiple of 64 */
	size_t prev_size; /* size of the block below, 0 for the first */
	size_t n;         /* user bytes asked for (0 when free) */
	struct arena_seg *seg;
	struct arena_blk *fnext, *fprev; /* free list, when free */
	uint64_t pad;
	uint64_t magic; /* ARENA_MAGIC in use, FREE_MAGIC free */
};

struct arena_seg {
	struct arena_seg *next;
	struct eml_arena *arena;
	uint8_t *map;     /* whole mapping, guards included */
	size_t map_len;
	uint8_t *base;    /* first usable byte (after the low guard) */
	size_t reserve;   /* usable bytes */
	size_t committed; /* bytes from base that are read-write */
	size_t top;       /* end of the last block */
	size_t last_size; /* size of the block that ends at top (0: none) */
};

struct eml_arena {
	pthread_mutex_t mu;
	struct arena_seg *segs;
	struct arena_blk *free_list;
	size_t limit;     /* committed bytes allowed over all segments; 0: none */
	size_t committed; /* over all segments */
	size_t in_use;    /* bytes in live blocks, headers included */
	size_t peak;
	size_t first_reserve;
	unsigned nsegs;
	bool locked;      /* every commit so far was locked */
};

_Static_assert(sizeof(struct secure_hdr) == 64, "secure header is 64 bytes");
_Static_assert(sizeof(struct arena_blk) == 64, "arena header is 64 bytes");

#define ARENA_MIN_RESERVE ((size_t)256 << 20)
#define ARENA_COMMIT_STEP ((size_t)1 << 20)

static _Thread_local struct eml_arena *tl_arena;
/* The agent's memory budget over all arenas (eml_arena_budget_set). */
static atomic_size_t budget_total;
static atomic_size_t budget_used;
static _Thread_local bool tl_budget_hit;
static size_t page_size;

static atomic_long fail_countdown;
static eml_wipe_observer wipe_observer;
static void *wipe_observer_arg;
static atomic_bool last_locked;
static pthread_once_t sodium_once = PTHREAD_ONCE_INIT;
static int sodium_rc = -1;

static void
sodium_init_once(void)
{
	sodium_rc = sodium_init();
}

eml_err
eml_mem_init(void)
{
	(void)pthread_once(&sodium_once, sodium_init_once);
	EML_ENSURE(sodium_rc >= 0, EML_ERR_CRYPTO);
	return EML_OK;
}

static bool
injected_failure(void)
{
	long n = atomic_load(&fail_countdown);

	while (n > 0) {
		if (atomic_compare_exchange_weak(&fail_countdown, &n, n - 1))
			return n == 1;
	}
	return false;
}

void
eml_mem_fail_after(long n)
{
	atomic_store(&fail_countdown, n > 0 ? n : 0);
}

long
eml_mem_fail_countdown(void)
{
	return atomic_load(&fail_countdown);
}

void
eml_mem_set_wipe_observer(eml_wipe_observer fn, void *arg)
{
	wipe_observer = fn;
	wipe_observer_arg = arg;
}

/*
 * Large heap blocks (model files, their weights) get transparent huge
 * pages where the kernel allows them (MADV_HUGEPAGE, THP in "madvise"
 * mode): one fault per 2 MiB instead of one per 4 KiB page. On a
 * virtual machine a first touch of a small page costs microseconds, and a
 * 45 MB model was touched page by page several times over (issue 16).
 * malloc serves such blocks from a mapping of their own, so the advice
 * covers nothing else; only the whole 2 MiB ranges inside are advised.
 */
#define HUGE_BLOCK ((size_t)4 << 20)
#define HUGE_PAGE ((size_t)2 << 20)

static void
advise_huge(void *p, size_t n)
{
#ifdef MADV_HUGEPAGE
	uintptr_t lo = ((uintptr_t)p + HUGE_PAGE - 1) & ~(uintptr_t)(HUGE_PAGE - 1);
	uintptr_t hi = ((uintptr_t)p + n) & ~(uintptr_t)(HUGE_PAGE - 1);

	if (p != NULL && n >= HUGE_BLOCK && hi > lo)
		(void)madvise((void *)lo, hi - lo, MADV_HUGEPAGE);
#else
	(void)p;
	(void)n;
#endif
}

void *
eml_alloc(size_t n)
{
	void *p;

	if (injected_failure())
		return NULL;
	p = malloc(n == 0 ? 1 : n);
	advise_huge(p, n);
	return p;
}

void *
eml_calloc(size_t nmemb, size_t size)
{
	size_t total;
	void *p;

	if (eml_mul_overflow(nmemb, size, &total))
		return NULL;
	if (injected_failure())
		return NULL;
	p = calloc(1, total == 0 ? 1 : total);
	advise_huge(p, total);
	return p;
}

void *
eml_realloc(void *p, size_t n)
{
	if (injected_failure())
		return NULL;
	return realloc(p, n == 0 ? 1 : n);
}

void
eml_free(void *p)
{
	free(p);
}

void
eml_wipe(void *p, size_t n)
{
	if (p != NULL && n != 0)
		sodium_memzero(p, n);
}

void
eml_free_wipe(void *p, size_t n)
{
	if (p == NULL)
		return;
	eml_wipe(p, n);
	if (wipe_observer != NULL && n != 0)
		wipe_observer(p, n, wipe_observer_arg);
	free(p);
}

char *
eml_strdup(const char *s)
{
	size_t n = strlen(s) + 1;
	char *d = eml_alloc(n);

	if (d != NULL)
		memcpy(d, s, n);
	return d;
}

/* ---------------------------------------------------------------- arenas */

static size_t
pagesz(void)
{
	if (page_size == 0) {
		long p = sysconf(_SC_PAGESIZE);

		page_size = p > 0 ? (size_t)p : 4096;
	}
	return page_size;
}

static size_t
round_up(size_t n, size_t to)
{
	return (n + to - 1) & ~(to - 1);
}

/*
 * A reservation of reserve usable bytes (rounded up to whole pages):
 * one anonymous PROT_NONE mapping with a guard page below, whose usable
 * part (returned) starts on a huge-page boundary, advised MADV_HUGEPAGE
 * and MADV_DONTDUMP whole (advice on a part would split the mapping).
 * Nothing is committed yet. Session arena segments and large secure
 * blocks of their own (huge_block_alloc) are made by it. NULL on failure.
 */
static uint8_t *
huge_reserve(size_t reserve, uint8_t **map, size_t *map_len)
{
	size_t pg = pagesz(), len;
	void *m;

	reserve = round_up(reserve, pg);
	/* a huge page more of address space, to start base on one */
	if (eml_add_overflow(reserve, 2 * pg + HUGE_PAGE, &len))
		return NULL;
	/* PROT_NONE and MAP_NORESERVE: address space only, no commit
	 * charge and no memory until pages are committed. */
	m = mmap(NULL, len, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (m == MAP_FAILED)
		return NULL;
#ifdef MADV_DONTDUMP
	(void)madvise(m, len, MADV_DONTDUMP);
#endif
	/* Committed ranges are locked at once, in whole huge pages where the
	 * limits allow (seg_commit): base is on a huge-page boundary (the
	 * low guard page below it), and the whole mapping is advised so that
	 * the advice does not split it into more mappings. A fresh 4 KiB
	 * page costs microseconds on a virtual machine; a huge page costs
	 * about what two dozen of them do (issue 16). */
#ifdef MADV_HUGEPAGE
	(void)madvise(m, len, MADV_HUGEPAGE);
#endif
	*map = m;
	*map_len = len;
	return (uint8_t *)(((uintptr_t)m + pg + HUGE_PAGE - 1) & ~(uintptr_t)(HUGE_PAGE - 1));
}

static struct arena_seg *
seg_new(struct eml_arena *a, size_t reserve)
{
	struct arena_seg *g;

	g = calloc(1, sizeof(*g));
	if (g == NULL)
		return NULL;
	g->base = huge_reserve(reserve, &g->map, &g->map_len);
	if (g->base == NULL) {
		free(g);
		return NULL;
	}
	g->arena = a;
	g->reserve = round_up(reserve, pagesz());
	g->next = a->segs;
	a->segs = g;
	a->nsegs++;
	return g;
}

/* Charge grow bytes to the global budget; false when it would pass it. */
static bool
budget_take(size_t grow)
{
	size_t total = atomic_load(&budget_total);
	size_t cur = atomic_load(&budget_used);

	do {
		if (total != 0 && (grow > total || cur > total - grow)) {
			tl_budget_hit = true;
			return false;
		}
	} while (!atomic_compare_exchange_weak(&budget_used, &cur, cur + grow));
	return true;
}

static void
budget_give(size_t n)
{
	atomic_fetch_sub(&budget_used, n);
}

void
eml_arena_budget_set(size_t total)
{
	atomic_store(&budget_total, total);
}

size_t
eml_arena_budget_used(void)
{
	return atomic_load(&budget_used);
}

bool
eml_arena_budget_hit(bool clear)
{
	bool hit = tl_budget_hit;

	if (clear)
		tl_budget_hit = false;
	return hit;
}

/* Whether the segment's reserve and the arena's limit hold target
 * committed bytes, and the budget the growth (*grow, taken). */
static bool
seg_commit_try(struct eml_arena *a, struct arena_seg *g, size_t target, size_t *grow)
{
	if (target > g->reserve)
		return false;
	*grow = target - g->committed;
	if (a->limit != 0 && (*grow > a->limit || a->committed > a->limit - *grow))
		return false;
	return budget_take(*grow);
}

/* Make [base, base + want) read-write and locked. */
static bool
seg_commit(struct eml_arena *a, struct arena_seg *g, size_t want)
{
	size_t grow, target;
	bool hit = tl_budget_hit;

	if (want <= g->committed)
		return true;
	/* Grow by at least a step or a quarter of what is there, so a session
	 * that fills its arena little by little commits a few times only. */
	target = g->committed + (g->committed / 4 > ARENA_COMMIT_STEP ? g->committed / 4 :
	    ARENA_COMMIT_STEP);
	if (target < want)
		target = want;
	/* whole huge pages when the reserve, the limit and the budget allow
	 * (seg_new), else whole pages */
	if (seg_commit_try(a, g, round_up(target, HUGE_PAGE), &grow)) {
		target = round_up(target, HUGE_PAGE);
	} else {
		tl_budget_hit = hit; /* only the fallback's refusal counts */
		target = round_up(target, pagesz());
		if (target > g->reserve)
			target = round_up(want, pagesz());
		if (!seg_commit_try(a, g, target, &grow))
			return false;
	}
	if (mprotect(g->base + g->committed, grow, PROT_READ | PROT_WRITE) != 0) {
		budget_give(grow);
		return false;
	}
	if (mlock(g->base + g->committed, grow) != 0)
		a->locked = false;
	g->committed = target;
	a->committed += grow;
	return true;
}

static void
free_unlink(struct eml_arena *a, struct arena_blk *b)
{
	if (b->fprev != NULL)
		b->fprev->fnext = b->fnext;
	else
		a->free_list = b->fnext;
	if (b->fnext != NULL)
		b->fnext->fprev = b->fprev;
	b->fnext = b->fprev = NULL;
}

static void
free_link(struct eml_arena *a, struct arena_blk *b)
{
	b->fprev = NULL;
	b->fnext = a->free_list;
	if (a->free_list != NULL)
		a->free_list->fprev = b;
	a->free_list = b;
}

static struct arena_blk *
blk_next(struct arena_blk *b)
{
	uint8_t *p = (uint8_t *)b + b->size;

	return p < b->seg->base + b->seg->top ? (struct arena_blk *)p : NULL;
}

/* A block of exactly size bytes at b (free or fresh), splitting off the
 * rest as a free block when it is worth keeping. */
static void
blk_take(struct eml_arena *a, struct arena_blk *b, size_t size)
{
	if (b->size - size >= 2 * sizeof(struct arena_blk)) {
		struct arena_blk *r = (struct arena_blk *)((uint8_t *)b + size);
		struct arena_blk *nx;

		r->size = b->size - size;
		r->prev_size = size;
		r->n = 0;
		r->seg = b->seg;
		r->magic = FREE_MAGIC;
		b->size = size;
		if ((nx = blk_next(r)) != NULL)
			nx->prev_size = r->size;
		free_link(a, r);
	}
	b->magic = ARENA_MAGIC;
}

/* A fresh block of size at the top of a segment that has room for
 * room >= size bytes there (a growable block's ceiling, else size),
 * committing size only; a new segment when none has, unless the arena's
 * limit could never hold room. */
static struct arena_blk *
arena_top(struct eml_arena *a, size_t size, size_t room)
{
	struct arena_seg *g;
	struct arena_blk *b;
	size_t reserve;

	for (g = a->segs; g != NULL; g = g->next)
		if (g->reserve - g->top >= room && seg_commit(a, g, g->top + size))
			break;
	if (g == NULL) {
		/* past the limit: no new segment either */
		if (a->limit != 0 && (room > a->limit || a->committed > a->limit - size))
			return NULL;
		reserve = a->segs == NULL ? a->first_reserve : a->segs->reserve * 2;
		if (reserve < room)
			reserve = room;
		if ((g = seg_new(a, reserve)) == NULL || !seg_commit(a, g, size))
			return NULL;
	}
	b = (struct arena_blk *)(g->base + g->top);
	b->size = size;
	b->prev_size = g->last_size;
	b->seg = g;
	g->top += size;
	g->last_size = size;
	b->magic = ARENA_MAGIC;
	return b;
}

static struct arena_blk *
arena_get(struct eml_arena *a, size_t size)
{
	struct arena_blk *best = NULL, *b;

	for (b = a->free_list; b != NULL; b = b->fnext)
		if (b->size >= size && (best == NULL || b->size < best->size))
			best = b;
	if (best != NULL) {
		free_unlink(a, best);
		blk_take(a, best, size);
		return best;
	}
	return arena_top(a, size, size);
}

static void
arena_put(struct eml_arena *a, struct arena_blk *b)
{
	struct arena_seg *g = b->seg;
	struct arena_blk *nx, *pv;

	a->in_use -= b->size;
	b->n = 0;
	b->magic = FREE_MAGIC;
	if ((nx = blk_next(b)) != NULL && nx->magic == FREE_MAGIC) {
		free_unlink(a, nx);
		b->size += nx->size;
		/* its header is now inside b: zero, like the rest (below) */
		sodium_memzero(nx, sizeof(*nx));
	}
	if (b->prev_size != 0) {
		pv = (struct arena_blk *)((uint8_t *)b - b->prev_size);
		if (pv->magic == FREE_MAGIC) {
			free_unlink(a, pv);
			pv->size += b->size;
			sodium_memzero(b, sizeof(*b));
			b = pv;
		}
	}
	if ((uint8_t *)b + b->size == g->base + g->top) {
		/* back to the bump; the block below is live (free ones merged) */
		g->top = (size_t)((uint8_t *)b - g->base);
		g->last_size = b->prev_size;
		sodium_memzero(b, sizeof(*b));
		return;
	}
	if ((nx = blk_next(b)) != NULL)
		nx->prev_size = b->size;
	free_link(a, b);
}

eml_err
eml_arena_new(size_t limit, struct eml_arena **out)
{
	struct eml_arena *a;

	EML_ENSURE_REF(out);
	*out = NULL;
	EML_GUARD(eml_mem_init());
	if (injected_failure())
		return EML_ERR_NOMEM;
	a = calloc(1, sizeof(*a));
	EML_ENSURE(a != NULL, EML_ERR_NOMEM);
	if (pthread_mutex_init(&a->mu, NULL) != 0) {
		free(a);
		return EML_ERR_INTERNAL;
	}
	a->limit = limit;
	a->locked = true;
	a->first_reserve = ARENA_MIN_RESERVE;
	if (limit != 0 && limit < a->first_reserve)
		a->first_reserve = round_up(limit, pagesz());
	*out = a;
	return EML_OK;
}

void
eml_arena_free(struct eml_arena *a)
{
	struct arena_seg *g, *nx;

	if (a == NULL)
		return;
	if (tl_arena == a)
		tl_arena = NULL;
	budget_give(a->committed);
#ifdef EML_FAULT_INJECTION
	if (EML_FAULT("mem_no_wipe"))
		return; /* property 10's fault: the arena left mapped, unwiped */
#endif
	for (g = a->segs; g != NULL; g = nx) {
		nx = g->next;
		/* Whatever is left below top (a block nobody freed, headers,
		 * free blocks) is wiped. Every committed byte above top is
		 * zero already (the invariant above): a run that freed all
		 * its blocks has given them back to the bump and nothing is
		 * left to wipe, where a pass over everything committed was a
		 * tenth of eml run --local on the ResNet bench model (issue
		 * 16). munmap unlocks. */
		if (g->top != 0) {
			sodium_memzero(g->base, g->top);
			if (wipe_observer != NULL)
				wipe_observer(g->base, g->top, wipe_observer_arg);
		}
		(void)munmap(g->map, g->map_len);
		free(g);
	}
	pthread_mutex_destroy(&a->mu);
	sodium_memzero(a, sizeof(*a));
	free(a);
}

bool
eml_arena_recycle(struct eml_arena *a, size_t keep)
{
	struct arena_seg *g;

	if (a == NULL)
		return false;
#ifdef EML_FAULT_INJECTION
	if (EML_FAULT("mem_no_wipe"))
		return false; /* property 10's fault: eml_arena_free leaves it unwiped */
#endif
	pthread_mutex_lock(&a->mu);
	g = a->segs;
	if (a->nsegs != 1 || g == NULL || g->committed > keep) {
		pthread_mutex_unlock(&a->mu);
		return false;
	}
	if (tl_arena == a)
		tl_arena = NULL;
	/* Below top: live blocks, free blocks, headers, whatever a session
	 * abandoned; above it every committed byte is zero already (the
	 * invariant), as eml_arena_free counts on. */
	if (g->top != 0) {
		sodium_memzero(g->base, g->top);
		if (wipe_observer != NULL)
			wipe_observer(g->base, g->top, wipe_observer_arg);
	}
	g->top = 0;
	g->last_size = 0;
	a->free_list = NULL;
	a->in_use = 0;
	a->peak = 0;
	pthread_mutex_unlock(&a->mu);
	return true;
}

struct eml_arena *
eml_arena_use(struct eml_arena *a)
{
	struct eml_arena *prev = tl_arena;

	tl_arena = a;
	return prev;
}

struct eml_arena *
eml_arena_current(void)
{
	return tl_arena;
}

void
eml_arena_walk(struct eml_arena *a,
    void (*fn)(const uint8_t *p, size_t n, bool live, void *arg), void *arg)
{
	if (a == NULL || fn == NULL)
		return;
	pthread_mutex_lock(&a->mu);
	for (struct arena_seg *g = a->segs; g != NULL; g = g->next) {
		uint8_t *p = g->base, *top = g->base + g->top;

		while (p < top) {
			struct arena_blk *b = (struct arena_blk *)p;

			fn(p + sizeof(*b), b->size - sizeof(*b), b->magic == ARENA_MAGIC, arg);
			p += b->size;
		}
		if (g->committed > g->top)
			fn(top, g->committed - g->top, false, arg);
	}
	pthread_mutex_unlock(&a->mu);
}

void
eml_arena_stats(struct eml_arena *a, struct eml_arena_stats *st)
{
	memset(st, 0, sizeof(*st));
	if (a == NULL)
		return;
	pthread_mutex_lock(&a->mu);
	st->segments = a->nsegs;
	st->committed = a->committed;
	st->in_use = a->in_use;
	st->peak = a->peak;
	st->locked = a->locked;
	pthread_mutex_unlock(&a->mu);
}

size_t
eml_arena_mappings_max(void)
{
	/* per segment: low guard, committed part, reserved rest with the high
	 * guard; the segments double from 256 MiB, so eight of them reach
	 * 64 GiB. */
	return 3 * 8;
}

size_t
eml_arena_reserve_first(void)
{
	return ARENA_MIN_RESERVE + 2 * pagesz();
}

/* A block's size for n bytes: its header and n, rounded up to 64; false
 * on overflow. */
static bool
blk_size_for(size_t n, size_t *size)
{
	if (eml_add_overflow(n == 0 ? 1 : n, sizeof(struct arena_blk) + 63, size))
		return false;
	*size &= ~(size_t)63;
	return true;
}

/* Under a->mu: n more bytes in live blocks, and the peak. */
static void
arena_count(struct eml_arena *a, size_t n)
{
	a->in_use += n;
	if (a->in_use > a->peak)
		a->peak = a->in_use;
}

static void *
arena_alloc(struct eml_arena *a, size_t n)
{
	struct arena_blk *b;
	size_t size;

	if (!blk_size_for(n, &size))
		return NULL;
	pthread_mutex_lock(&a->mu);
	b = arena_get(a, size);
	if (b != NULL) {
		b->n = n;
		arena_count(a, b->size);
	}
	atomic_store(&last_locked, a->locked);
	pthread_mutex_unlock(&a->mu);
	if (b == NULL)
		return NULL;
	/* Starts from zero like calloc without a pass over it: every free
	 * byte of an arena is zero but the headers of free blocks (fresh
	 * pages come zero, a freed block is wiped whole, a header that ends
	 * up inside a free block is zeroed), and this block's own header is
	 * the only one it held. Per-request assembly allocates its weights
	 * and packed copies of them on every request: one pass fewer. */
	return b + 1;
}

void *
eml_secure_alloc_growable(size_t n, size_t max)
{
	struct eml_arena *a = tl_arena;
	struct arena_blk *b;
	size_t size, maxsize;

	if (a == NULL || n > max)
		return eml_secure_alloc(n);
	if (eml_mem_init() != EML_OK || injected_failure() || !blk_size_for(n, &size) ||
	    !blk_size_for(max, &maxsize))
		return NULL;
	pthread_mutex_lock(&a->mu);
	/* Never from the free list: a block there has a neighbour above. */
	b = arena_top(a, size, maxsize);
	if (b != NULL) {
		b->n = n;
		arena_count(a, b->size);
	}
	atomic_store(&last_locked, a->locked);
	pthread_mutex_unlock(&a->mu);
	if (b == NULL)
		return NULL;
	/* Zero without a pass, like arena_alloc: a fresh block at top. */
	return b + 1;
}

bool
eml_secure_grow(void *p, size_t n)
{
	struct arena_blk *b = (struct arena_blk *)p - 1;
	struct arena_seg *g;
	struct eml_arena *a;
	size_t size, off, old;
	bool ok = false;

	if (p == NULL || b->magic != ARENA_MAGIC || !blk_size_for(n, &size))
		return false;
	g = b->seg;
	a = g->arena;
	pthread_mutex_lock(&a->mu);
	off = (size_t)((uint8_t *)b - g->base);
	old = b->size;
	if (n < b->n) {
		ok = false;
	} else if (size <= old) {
		ok = true; /* within the block's rounding */
	} else if (off + old == g->top && g->reserve - off >= size &&
	    seg_commit(a, g, off + size)) {
		/* the top block: extend it and the bump */
		b->size = size;
		g->top = off + size;
		g->last_size = size;
		arena_count(a, size - old);
		ok = true;
	}
	/* The new bytes are zero already: the block's slack was zero when it
	 * was allocated, and so is every committed byte above top. No pass
	 * over them (the weights of a per-request assembly grow chunk by
	 * chunk, once per request). */
	if (ok)
		b->n = n;
	pthread_mutex_unlock(&a->mu);
	return ok;
}

/* ---------------------------------------------------------------- secure */

/*
 * Large secure blocks outside an arena (the client's and the proxy's
 * request and answer buffers, from HUGE_SECURE_MIN): a reservation of
 * their own from huge_reserve, committed whole in huge pages and locked,
 * instead of sodium_malloc's 4 KiB pages, each faulted by its mlock
 * (5-12 us apiece on a virtual machine), filled with 0xdb and zeroed
 * again. Fresh pages are zero already: no pass over them. The header
 * sits at the start of the first huge page; the bytes after the user
 * block up to the huge-page end are committed too (zero, wiped with it).
 */
#define HUGE_SECURE_MIN HUGE_PAGE
#define HUGE_MAGIC 0x656d6c6875676521ULL /* "emlhuge!" */

struct huge_hdr {
	size_t size; /* user bytes (same place as secure_hdr.size) */
	uint8_t *map;
	size_t map_len;
	size_t committed; /* from the header on */
	uint8_t pad[24];
	uint64_t magic;
};
_Static_assert(sizeof(struct huge_hdr) == 64, "huge header is 64 bytes");

static void *
huge_block_alloc(size_t n)
{
	struct huge_hdr *h;
	uint8_t *map, *base;
	size_t map_len, total;

	if (eml_add_overflow(n, sizeof(*h) + HUGE_PAGE - 1, &total))
		return NULL;
	total &= ~(HUGE_PAGE - 1);
	base = huge_reserve(total, &map, &map_len);
	if (base == NULL)
		return NULL;
	if (mprotect(base, total, PROT_READ | PROT_WRITE) != 0) {
		munmap(map, map_len);
		return NULL;
	}
	/* faults the pages in, whole huge pages where THP allows */
	atomic_store(&last_locked, mlock(base, total) == 0);
	h = (struct huge_hdr *)base;
	h->size = n;
	h->map = map;
	h->map_len = map_len;
	h->committed = total;
	h->magic = HUGE_MAGIC;
	return h + 1;
}

static void
huge_block_free(struct huge_hdr *h)
{
	void *p = h + 1;
	size_t n = h->size;

	sodium_memzero(p, n);
	if (wipe_observer != NULL)
		wipe_observer(p, n, wipe_observer_arg);
	h->magic = 0;
	/* unmapping unlocks; the pages past n were never written */
	(void)munmap(h->map, h->map_len);
}

void *
eml_secure_alloc(size_t n)
{
	struct secure_hdr *h;
	size_t total;

	if (eml_mem_init() != EML_OK)
		return NULL;
	if (eml_add_overflow(n, sizeof(*h) + 63, &total))
		return NULL;
	total &= ~(size_t)63;
	if (injected_failure())
		return NULL;
	if (tl_arena != NULL)
		return arena_alloc(tl_arena, n);
	if (n >= HUGE_SECURE_MIN)
		return huge_block_alloc(n);
	h = sodium_malloc(total);
	if (h == NULL)
		return NULL;
	/* sodium_malloc fills with 0xdb; start from zero like calloc. */
	sodium_memzero(h, total);
	h->size = n;
	h->magic = SECURE_MAGIC;
	/* sodium_malloc already tries mlock + MADV_DONTDUMP but does not say
	 * whether the lock held; locking again tells us. */
	atomic_store(&last_locked, sodium_mlock(h, total) == 0);
	return h + 1;
}

void
eml_secure_free(void *p)
{
	struct secure_hdr *h;
	size_t n;

	if (p == NULL)
		return;
	h = (struct secure_hdr *)p - 1;
	if (h->magic == ARENA_MAGIC) {
		struct arena_blk *b = (struct arena_blk *)p - 1;
		struct eml_arena *a = b->seg->arena;

		n = b->n;
#ifdef EML_FAULT_INJECTION
		if (EML_FAULT("mem_no_wipe"))
			return; /* property 10's fault: a block freed unwiped (leaked) */
#endif
		/* the whole block, slack included, to keep free bytes zero */
		sodium_memzero(p, b->size - sizeof(*b));
		if (wipe_observer != NULL)
			wipe_observer(p, n, wipe_observer_arg);
		pthread_mutex_lock(&a->mu);
		arena_put(a, b);
		pthread_mutex_unlock(&a->mu);
		return;
	}
	if (h->magic == HUGE_MAGIC) {
		huge_block_free((struct huge_hdr *)h);
		return;
	}
	if (h->magic != SECURE_MAGIC)
		abort(); /* heap corruption, a double free or a foreign pointer */
	n = h->size;
	sodium_memzero(p, n);
	if (wipe_observer != NULL)
		wipe_observer(p, n, wipe_observer_arg);
	h->magic = 0;
	sodium_free(h); /* wipes the header and unlocks */
}

bool
eml_secure_locked(void)
{
	return atomic_load(&last_locked);
}

/* The hand-wiped part: from the caller's frame down past the first page
 * eml_stack_scrub leaves mapped (two pages more than EML_STACK_NEAR). */
static __attribute__((noinline)) void
stack_wipe_near(void)
{
	uint8_t near[EML_STACK_NEAR + 2 * 4096];

	sodium_memzero(near, sizeof(near));
	__asm__ volatile("" : : "r"(near) : "memory");
}

void
eml_stack_scrub(void)
{
	pthread_attr_t at;
	void *lo = NULL;
	size_t size = 0;
	uint8_t here = 0;
	uintptr_t page = (uintptr_t)sysconf(_SC_PAGESIZE), l, h;

	__asm__ volatile("" : : "r"(&here) : "memory");
	if (pthread_getattr_np(pthread_self(), &at) == 0) {
		if (pthread_attr_getstack(&at, &lo, &size) == 0 && lo != NULL) {
			l = ((uintptr_t)lo + page - 1) & ~(page - 1);
			h = ((uintptr_t)&here - EML_STACK_NEAR) & ~(page - 1);
			if (h > l)
				(void)madvise((void *)l, h - l, MADV_DONTNEED);
		}
		(void)pthread_attr_destroy(&at);
	}
	stack_wipe_near();
}
