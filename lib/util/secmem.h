/*
 * secmem: the one home for secrets.
 *
 * Key material lives only in memory obtained here: OpenSSL's secure heap,
 * which is an mmap'ed arena that is mlock'ed (never swapped), marked
 * MADV_DONTDUMP (never in a core file) and guarded by PROT_NONE pages.
 * Memory is zeroed on allocation and wiped (OPENSSL_cleanse) on free.
 *
 * Invariants: secmem_free(NULL, n) is a no-op; every secmem_alloc() result
 * is aligned to SECMEM_ALIGN bytes (the heap's minimum block size), which is
 * enough for the AES key schedules and GCM tables of every crypto engine.
 */
#ifndef CS_SECMEM_H
#define CS_SECMEM_H

#include <stdbool.h>
#include <stddef.h>

#define SECMEM_ALIGN        64
#define SECMEM_DEFAULT_HEAP (16u << 20)

/*
 * secmem_init(heap_size): create the secure heap of heap_size bytes (a
 * power of two).  Idempotent: later calls, and the implicit call made by the
 * first secmem_alloc() with SECMEM_DEFAULT_HEAP, do nothing.  Returns 0 when
 * the heap exists and is locked, 1 when it exists but could not be locked or
 * excluded from core dumps (RLIMIT_MEMLOCK too low: a warning for
 * development, an error for production), or CS_ENOMEM.
 */
int secmem_init(size_t heap_size) __attribute__((warn_unused_result));

/* secmem_locked(): true if the secure heap exists and is mlock'ed. */
bool secmem_locked(void);

/*
 * secmem_alloc(n): n zeroed bytes of secure memory, aligned to SECMEM_ALIGN,
 * or NULL when the secure heap is exhausted or cannot be created.  Never
 * falls back to ordinary heap memory.  Free with secmem_free().
 */
void *secmem_alloc(size_t n) __attribute__((warn_unused_result, malloc));

/* secmem_free(p, n): wipe the n bytes at p and return them to the heap. */
void secmem_free(void *p, size_t n);

/* secmem_wipe(p, n): overwrite n bytes at p with zeros in a way the
 * compiler cannot elide.  For stack copies of secrets. */
void secmem_wipe(void *p, size_t n);

/* secmem_eq(a, b, n): true iff the n bytes at a and b are equal; the time
 * taken depends only on n.  Use for every MAC, tag or signature check. */
bool secmem_eq(const void *a, const void *b, size_t n);

/* secmem_is_secure(p): true if p points into the secure heap. */
bool secmem_is_secure(const void *p);

/* secmem_used(): bytes currently allocated from the secure heap. */
size_t secmem_used(void);

/*
 * secmem_no_core_dumps(): set RLIMIT_CORE to 0 and mark the process
 * non-dumpable so that no secret can reach a core file.  Returns 0 or
 * CS_EIO with errno set.
 */
int secmem_no_core_dumps(void) __attribute__((warn_unused_result));

#endif /* CS_SECMEM_H */
