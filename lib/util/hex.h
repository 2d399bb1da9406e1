/*
 * hex: lowercase hexadecimal encoding and strict decoding, for key files,
 * test vectors and log lines.
 */
#ifndef CS_HEX_H
#define CS_HEX_H

#include <stddef.h>
#include <stdint.h>

/* hex_encode(out, in, n): write 2n lowercase hex digits and a NUL to out,
 * which must hold 2n+1 bytes. */
void hex_encode(char *out, const uint8_t *in, size_t n);

/* hex_value(c): the value 0..15 of hex digit c (either case), or -1. */
int hex_value(int c);

/*
 * hex_decode(out, outsz, in, inlen): decode inlen hex digits (either case)
 * into out.  Returns the number of bytes written, or CS_EINVAL for an odd
 * length or a non-hex character, or CS_ERANGE if out is too small.
 */
long hex_decode(uint8_t *out, size_t outsz, const char *in, size_t inlen)
	__attribute__((warn_unused_result));

#endif /* CS_HEX_H */
