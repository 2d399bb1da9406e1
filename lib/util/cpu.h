/*
 * cpu: what the vector kernels (sha256_ni, cbc_vaes, md5_mb) ask of the CPU
 * before their own known-answer checks.
 */
#ifndef CS_CPU_H
#define CS_CPU_H

#include <cpuid.h>
#include <stdbool.h>

/*
 * cpu_avx(leaf1_ecx, leaf7_ebx, leaf7_ecx): true if CPUID reports AVX and
 * OSXSAVE and the OS saves the XMM and YMM state (XCR0 bits 1-2); then the
 * feature words of leaf 1 (ECX) and leaf 7 subleaf 0 (EBX, ECX) are set for
 * the caller's own bits.
 */
static inline bool
cpu_avx(unsigned *leaf1_ecx, unsigned *leaf7_ebx, unsigned *leaf7_ecx)
{
	unsigned a, b, c, d, lo, hi;

	if (__get_cpuid(1, &a, &b, &c, &d) == 0 || (c & bit_OSXSAVE) == 0 || (c & bit_AVX) == 0)
		return false;
	*leaf1_ecx = c;
	__asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
	if ((lo & 6) != 6 || __get_cpuid_count(7, 0, &a, &b, &c, &d) == 0)
		return false;
	*leaf7_ebx = b;
	*leaf7_ecx = c;
	return true;
}

#endif /* CS_CPU_H */
