/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Deterministic bytes for the unit tests and fuzz harnesses that drive IKE engines: xorshift64*
 * over one state word per user, so a test's nonces, SPIs and DH keys repeat run after run. Never
 * for production, whose randomness is OpenSSL's.
 */
#ifndef EG_TESTS_XORSHIFT_H
#define EG_TESTS_XORSHIFT_H

#include <stddef.h>
#include <stdint.h>

static inline void xorshift_fill(uint64_t *state, void *buf, size_t len)
{
	uint8_t *p = buf;

	for (size_t i = 0; i < len; i++) {
		*state ^= *state >> 12;
		*state ^= *state << 25;
		*state ^= *state >> 27;
		p[i] = (uint8_t)((*state * 0x2545F4914F6CDD1DULL) >> 56);
	}
}

#endif
