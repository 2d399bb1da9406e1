/*
 * secmem: locked, never-dumped, wiped-on-free memory for secrets, on top of
 * OpenSSL's secure heap (CRYPTO_secure_malloc_init).
 */
#include "secmem.h"
#include "err.h"

#include <pthread.h>
#include <sys/prctl.h>
#include <stdatomic.h>
#include <sys/resource.h>

#include <openssl/crypto.h>

static pthread_mutex_t secmem_lock = PTHREAD_MUTEX_INITIALIZER;
static int secmem_state = -1; /* -1: not created; else secmem_init()'s result */
/* Set (release) once the heap exists, so that a thread that sees it also
 * sees OpenSSL's heap state; CRYPTO_secure_malloc_initialized() is a plain
 * read, a data race against another thread's first secmem_init(). */
static atomic_bool secmem_ready;

int
secmem_init(size_t heap_size)
{
	int rc;

	if (heap_size == 0 || (heap_size & (heap_size - 1)) != 0)
		return CS_EINVAL;
	pthread_mutex_lock(&secmem_lock);
	if (secmem_state < 0) {
		switch (CRYPTO_secure_malloc_init(heap_size, SECMEM_ALIGN)) {
		case 1:
			secmem_state = 0;
			break;
		case 2:
			secmem_state = 1;
			break;
		default:
			break;
		}
	}
	rc = secmem_state < 0 ? CS_ENOMEM : secmem_state;
	if (secmem_state >= 0)
		atomic_store_explicit(&secmem_ready, true, memory_order_release);
	pthread_mutex_unlock(&secmem_lock);
	return rc;
}

bool
secmem_locked(void)
{
	bool locked;

	pthread_mutex_lock(&secmem_lock);
	locked = secmem_state == 0;
	pthread_mutex_unlock(&secmem_lock);
	return locked;
}

void *
secmem_alloc(size_t n)
{
	void *p;

	if (!atomic_load_explicit(&secmem_ready, memory_order_acquire) &&
	    secmem_init(SECMEM_DEFAULT_HEAP) < 0)
		return NULL;
	if (n == 0)
		n = 1;
	/* OPENSSL_secure_zalloc silently falls back to malloc() when the
	 * heap is absent; we checked above, and check the result too. */
	p = OPENSSL_secure_zalloc(n);
	if (p != NULL && !CRYPTO_secure_allocated(p)) {
		OPENSSL_clear_free(p, n);
		return NULL;
	}
	return p;
}

void
secmem_free(void *p, size_t n)
{
	if (p == NULL)
		return;
	OPENSSL_cleanse(p, n);
	OPENSSL_secure_clear_free(p, n);
}

void
secmem_wipe(void *p, size_t n)
{
	if (p != NULL && n > 0)
		OPENSSL_cleanse(p, n);
}

bool
secmem_eq(const void *a, const void *b, size_t n)
{
	return CRYPTO_memcmp(a, b, n) == 0;
}

bool
secmem_is_secure(const void *p)
{
	return p != NULL && CRYPTO_secure_allocated(p);
}

size_t
secmem_used(void)
{
	return CRYPTO_secure_malloc_initialized() ? CRYPTO_secure_used() : 0;
}

int
secmem_no_core_dumps(void)
{
	struct rlimit rl = {0, 0};

	if (setrlimit(RLIMIT_CORE, &rl) != 0)
		return CS_EIO;
	if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0)
		return CS_EIO;
	return 0;
}
