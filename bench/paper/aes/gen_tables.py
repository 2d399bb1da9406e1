#!/usr/bin/env python3
"""gen_tables.py: print the lookup tables of aes_portable.c.

The tables are derived here from the AES S-box definition (FIPS-197 5.1.1:
the multiplicative inverse in GF(2^8) followed by the affine map), so no
table is copied from anywhere.  Run it, paste its output between the
"generated tables" markers of aes_portable.c and run clang-format -i on that
file (which only re-wraps the lines); the known-answer tests and the OpenSSL
cross-check of test_aes_portable.c fail if a single entry is wrong.
"""


def xtime(a):
    a <<= 1
    return (a ^ 0x11B) & 0xFF if a & 0x100 else a


def mul(a, b):
    r = 0
    while b:
        if b & 1:
            r ^= a
        a = xtime(a)
        b >>= 1
    return r


def sbox():
    inv = [0] * 256
    for x in range(1, 256):
        for y in range(1, 256):
            if mul(x, y) == 1:
                inv[x] = y
                break
    s = []
    for x in range(256):
        b = inv[x]
        r = b
        for k in range(1, 5):
            r ^= ((b << k) | (b >> (8 - k))) & 0xFF
        s.append(r ^ 0x63)
    return s


def ror(w, n):
    return ((w >> n) | (w << (32 - n))) & 0xFFFFFFFF


def table(name, words):
    print("static const uint32_t %s[256] = {" % name)
    for i in range(0, 256, 6):
        print("\t" + " ".join("0x%08xU," % w for w in words[i:i + 6]))
    print("};")


def bytes_table(name, vals):
    print("static const uint8_t %s[256] = {" % name)
    for i in range(0, 256, 12):
        print("\t" + " ".join("0x%02x," % v for v in vals[i:i + 12]))
    print("};")


def main():
    s = sbox()
    si = [0] * 256
    for x in range(256):
        si[s[x]] = x
    # Te0[x] = the MixColumns column of S[x] in row 0: (2s, s, s, 3s).
    te0 = [(mul(s[x], 2) << 24) | (s[x] << 16) | (s[x] << 8) | mul(s[x], 3) for x in range(256)]
    # Td0[x] = the InvMixColumns column of Si[x]: (14si, 9si, 13si, 11si).
    td0 = [(mul(si[x], 14) << 24) | (mul(si[x], 9) << 16) | (mul(si[x], 13) << 8) | mul(si[x], 11)
           for x in range(256)]
    for i in range(4):
        table("te%d" % i, [ror(w, 8 * i) for w in te0])
    for i in range(4):
        table("td%d" % i, [ror(w, 8 * i) for w in td0])
    bytes_table("sbox", s)
    bytes_table("sinv", si)


if __name__ == "__main__":
    main()
