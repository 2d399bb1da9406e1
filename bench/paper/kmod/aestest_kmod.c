// SPDX-License-Identifier: GPL-2.0
/*
 * aestest: the kernel half of the original paper's aestest experiment.
 *
 * Reading /proc/aestest (the paper used `dd bs=1 count=1 if=/proc/aestest
 * of=/dev/zero`) fills a buffer of `size` random bytes, draws a random
 * AES-256 key and IV, and encrypts and decrypts the buffer `count` times in
 * CBC mode with each of (the `tests` mask selects them):
 *
 *   portable          the very aes_portable.c that paper_aestest runs in user
 *                     space: the same loop, now in kernel context;
 *   kapi-sync         the kernel crypto API's "cbc(aes)" restricted to
 *                     synchronous implementations (mask CRYPTO_ALG_ASYNC);
 *   kapi-default      "cbc(aes)" as any kernel user gets it (highest
 *                     priority: with aesni-intel loaded, the SIMD wrapper
 *                     cbc-aes-aesni), waited for synchronously;
 *   kapi-generic      "cbc(aes-generic)": the kernel's own table-based C AES,
 *                     the counterpart of the portable code.
 *
 * For the crypto API rows the driver the kernel picked is reported
 * (crypto_skcipher_driver_name).  Each row is one line, as text in the file
 * and in the kernel log:
 *   aestest-kernel ID COUNT SIZE SECONDS MBPS DRIVER
 * with MB/s = (bytes encrypted + bytes decrypted) / s, 1 MB = 10^6 bytes,
 * the same definition as paper_aestest.  A result is printed only if the
 * buffer came back to its plaintext; otherwise the line says FAILED.
 *
 * The loop differs from user space in one call: cond_resched() every 256
 * iterations, so a long run does not stall the CPU (the paper's module had
 * none; it costs one flag test per 256 x 2 KiB of work).  Reads are
 * serialised; the output fits one seq_file page, so a read runs the test
 * once.
 */
#include <linux/crypto.h>
#include <linux/ktime.h>
#include <linux/math64.h>
#include <linux/module.h>
#include <linux/mutex.h>
#include <linux/proc_fs.h>
#include <linux/random.h>
#include <linux/scatterlist.h>
#include <linux/sched.h>
#include <linux/seq_file.h>
#include <linux/slab.h>
#include <linux/string.h>
#include <asm/simd.h>
#include <crypto/skcipher.h>

#include "aes_portable.h"

#define AESTEST_RESCHED 256

static ulong count = 1000000;
module_param(count, ulong, 0644);
MODULE_PARM_DESC(count, "encrypt+decrypt iterations per implementation (default 1000000)");

static uint size = 1024;
module_param(size, uint, 0644);
MODULE_PARM_DESC(size, "buffer bytes, a multiple of 16, at most 65536 (default 1024)");

static uint tests = 15;
module_param(tests, uint, 0644);
MODULE_PARM_DESC(tests, "which rows a read runs, a bit mask: 1 portable, 2 kapi-sync, "
			"4 kapi-default, 8 kapi-generic (default 15, all)");

static DEFINE_MUTEX(aestest_lock);

struct aestest_state {
	struct aes_portable_key ek, dk;
	u8 key[32], iv[16], ive[16], ivd[16];
	u8 *plain, *buf;
};

/* report: one result line into the file and the kernel log. */
static void
report(struct seq_file *m, const char *id, u64 ns, bool ok, const char *driver)
{
	u64 bytes = 2ULL * size * count;
	u64 dmbps = ns ? div64_u64(bytes * 10000ULL, ns) : 0; /* tenths of MB/s */
	char line[160];

	if (ok)
		snprintf(line, sizeof(line), "aestest-kernel %s %lu %u %llu.%09llu %llu.%llu %s",
			 id, count, size, div_u64(ns, 1000000000), ns % 1000000000ULL,
			 div_u64(dmbps, 10), dmbps % 10, driver);
	else
		snprintf(line, sizeof(line), "aestest-kernel %s FAILED %s", id, driver);
	seq_printf(m, "%s\n", line);
	pr_info("%s\n", line);
}

static void
run_portable(struct seq_file *m, struct aestest_state *st)
{
	unsigned long i;
	u64 t0, ns;
	int rc = 0;

	memcpy(st->buf, st->plain, size);
	memcpy(st->ive, st->iv, 16);
	memcpy(st->ivd, st->iv, 16);
	if (aes_portable_set_encrypt_key(&st->ek, st->key, 256) != 0 ||
	    aes_portable_set_decrypt_key(&st->dk, st->key, 256) != 0) {
		report(m, "portable", 0, false, "aes_portable");
		return;
	}
	t0 = ktime_get_ns();
	for (i = 0; i < count; i++) {
		rc |= aes_portable_cbc_encrypt(&st->ek, st->ive, st->buf, st->buf, size);
		rc |= aes_portable_cbc_decrypt(&st->dk, st->ivd, st->buf, st->buf, size);
		if (i % AESTEST_RESCHED == AESTEST_RESCHED - 1)
			cond_resched();
	}
	ns = ktime_get_ns() - t0;
	report(m, "portable", ns, rc == 0 && memcmp(st->buf, st->plain, size) == 0, "aes_portable");
}

/*
 * run_kapi: the same loop through an skcipher transform of alg with the
 * given mask; the request is waited for, so an asynchronous driver is used
 * synchronously.  CBC drivers leave the last ciphertext block in req->iv,
 * so each direction continues one CBC stream, as in user space.
 */
static void
run_kapi(struct seq_file *m, struct aestest_state *st, const char *id, const char *alg, u32 mask)
{
	struct crypto_skcipher *tfm;
	struct skcipher_request *req = NULL;
	struct scatterlist sg;
	DECLARE_CRYPTO_WAIT(wait);
	char driver[CRYPTO_MAX_ALG_NAME];
	unsigned long i;
	u64 t0, ns;
	int rc = 0;

	tfm = crypto_alloc_skcipher(alg, 0, mask);
	if (IS_ERR(tfm)) {
		snprintf(driver, sizeof(driver), "unavailable(%s:%ld)", alg, PTR_ERR(tfm));
		report(m, id, 0, false, driver);
		return;
	}
	strscpy(driver, crypto_skcipher_driver_name(tfm), sizeof(driver));
	if (crypto_skcipher_setkey(tfm, st->key, 32) != 0 ||
	    (req = skcipher_request_alloc(tfm, GFP_KERNEL)) == NULL) {
		report(m, id, 0, false, driver);
		goto out;
	}
	skcipher_request_set_callback(req, CRYPTO_TFM_REQ_MAY_BACKLOG | CRYPTO_TFM_REQ_MAY_SLEEP,
				      crypto_req_done, &wait);
	memcpy(st->buf, st->plain, size);
	memcpy(st->ive, st->iv, 16);
	memcpy(st->ivd, st->iv, 16);
	sg_init_one(&sg, st->buf, size);
	t0 = ktime_get_ns();
	for (i = 0; i < count && rc == 0; i++) {
		skcipher_request_set_crypt(req, &sg, &sg, size, st->ive);
		rc = crypto_wait_req(crypto_skcipher_encrypt(req), &wait);
		skcipher_request_set_crypt(req, &sg, &sg, size, st->ivd);
		rc |= crypto_wait_req(crypto_skcipher_decrypt(req), &wait);
		if (i % AESTEST_RESCHED == AESTEST_RESCHED - 1)
			cond_resched();
	}
	ns = ktime_get_ns() - t0;
	report(m, id, ns, rc == 0 && memcmp(st->buf, st->plain, size) == 0, driver);
out:
	skcipher_request_free(req);
	crypto_free_skcipher(tfm);
}

static int
aestest_show(struct seq_file *m, void *v)
{
	struct aestest_state *st;

	if (size < 16 || size > 65536 || size % 16 != 0 || count == 0) {
		seq_puts(m, "aestest-kernel error: size must be a multiple of 16 in 16..65536, "
			    "count > 0\n");
		return 0;
	}
	st = kzalloc(sizeof(*st), GFP_KERNEL);
	if (st == NULL)
		return -ENOMEM;
	st->plain = kmalloc(size, GFP_KERNEL);
	st->buf = kmalloc(size, GFP_KERNEL);
	if (st->plain == NULL || st->buf == NULL) {
		kfree(st->plain);
		kfree(st->buf);
		kfree(st);
		return -ENOMEM;
	}
	get_random_bytes(st->plain, size);
	get_random_bytes(st->key, sizeof(st->key));
	get_random_bytes(st->iv, sizeof(st->iv));

	mutex_lock(&aestest_lock);
	/* Whether this context may use the FPU/SIMD registers (kernel_fpu_begin):
	 * where it may not, the aesni driver falls back to cryptd or generic code. */
	seq_printf(m, "aestest-kernel info simd-usable=%s\n", may_use_simd() ? "yes" : "no");
	pr_info("aestest-kernel info simd-usable=%s\n", may_use_simd() ? "yes" : "no");
	if (tests & 1)
		run_portable(m, st);
	if (tests & 2)
		run_kapi(m, st, "kapi-sync", "cbc(aes)", CRYPTO_ALG_ASYNC);
	if (tests & 4)
		run_kapi(m, st, "kapi-default", "cbc(aes)", 0);
	if (tests & 8)
		run_kapi(m, st, "kapi-generic", "cbc(aes-generic)", 0);
	mutex_unlock(&aestest_lock);

	kfree(st->plain);
	kfree(st->buf);
	kfree_sensitive(st); /* the key and its schedules */
	return 0;
}

static int
aestest_open(struct inode *inode, struct file *file)
{
	return single_open(file, aestest_show, NULL);
}

static const struct proc_ops aestest_ops = {
	.proc_open = aestest_open,
	.proc_read = seq_read,
	.proc_lseek = seq_lseek,
	.proc_release = single_release,
};

static int __init
aestest_init(void)
{
	if (proc_create("aestest", 0444, NULL, &aestest_ops) == NULL)
		return -ENOMEM;
	pr_info("aestest: loaded; read /proc/aestest to run (count=%lu size=%u)\n", count, size);
	return 0;
}

static void __exit
aestest_exit(void)
{
	remove_proc_entry("aestest", NULL);
}

module_init(aestest_init);
module_exit(aestest_exit);
MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("The aestest experiment: portable C AES and the crypto API's cbc(aes)");
