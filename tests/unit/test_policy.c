// SPDX-License-Identifier: GPL-2.0-only
/*
 * eg_policy_priority(): more specific selector pairs win (lower value), ties broken by protocol,
 * ports, then config order; values are unique per order and stay inside the child range.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>
#include <cmocka.h>
#include "config.h"
#include "policy.h"

/* From headers/espgate_abi.h, which cannot be included beside config.h. */
#define EG_PRIO_CHILD_BASE 0x00100000u
#define EG_PRIO_FALLBACK_BASE 0x00400000u

static struct eg_selector sel4(uint8_t len, uint8_t proto, uint16_t lo, uint16_t hi)
{
	struct eg_selector s;

	memset(&s, 0, sizeof(s));
	s.net.af = AF_INET;
	s.net.len = len;
	s.proto = proto;
	s.port_lo = lo;
	s.port_hi = hi;
	return s;
}

static void test_prefix_length_first(void **state)
{
	struct eg_selector l32 = sel4(32, 0, 0, 65535), l24 = sel4(24, 0, 0, 65535),
			   r24 = sel4(24, 0, 0, 65535), r16 = sel4(16, 6, 80, 80);

	(void)state;
	/* /32+/24 beats /24+/24 even with a worse order... */
	assert_true(eg_policy_priority(&l32, &r24, 999) < eg_policy_priority(&l24, &r24, 0));
	/* ...and beats /24+/16 with protocol and ports (length dominates). */
	assert_true(eg_policy_priority(&l32, &r24, 5) < eg_policy_priority(&l24, &r16, 0));
}

static void test_protocol_then_ports_then_order(void **state)
{
	struct eg_selector any = sel4(24, 0, 0, 65535), tcp = sel4(24, 6, 0, 65535),
			   tcp80 = sel4(24, 6, 80, 80);

	(void)state;
	assert_true(eg_policy_priority(&tcp, &any, 9) < eg_policy_priority(&any, &any, 0));
	assert_true(eg_policy_priority(&any, &tcp80, 9) < eg_policy_priority(&any, &tcp, 0));
	assert_true(eg_policy_priority(&tcp80, &tcp80, 9) < eg_policy_priority(&any, &tcp80, 0));
	assert_true(eg_policy_priority(&any, &any, 1) < eg_policy_priority(&any, &any, 2));
}

static void test_range_and_uniqueness(void **state)
{
	static uint8_t seen[EG_PRIO_FALLBACK_BASE / 8];
	struct eg_selector a, b;
	unsigned int n = 0;

	(void)state;
	memset(seen, 0, sizeof(seen));
	for (unsigned int sl = 0; sl <= 32; sl += 8) {
		for (unsigned int dl = 0; dl <= 32; dl += 4) {
			for (unsigned int v = 0; v < 4; v++) {
				uint32_t p;

				a = sel4((uint8_t)sl, v & 1 ? 17 : 0, 0, v & 2 ? 53 : 65535);
				b = sel4((uint8_t)dl, 0, 0, 65535);
				p = eg_policy_priority(&a, &b, n % EG_PRIO_MAX_ORDER);
				assert_true(p >= EG_PRIO_CHILD_BASE && p < EG_PRIO_FALLBACK_BASE);
				assert_false(seen[p / 8] & (1u << (p % 8)));
				seen[p / 8] |= (uint8_t)(1u << (p % 8));
				n++;
			}
		}
	}
	/* The extremes: /0 <-> /0, any, last order, still below the fallback range. */
	assert_true(eg_policy_priority_raw(AF_INET, 0, 0, 0, true, true, EG_PRIO_MAX_ORDER - 1) <
		    EG_PRIO_FALLBACK_BASE);
	assert_int_equal(eg_policy_priority_raw(AF_INET, 0, 0, 0, true, true, EG_PRIO_MAX_ORDER),
			 0);
	assert_int_equal(eg_policy_priority_raw(AF_INET, 33, 0, 0, true, true, 0), 0);
	/* IPv6 /128 <-> /128 ranks like IPv4 /32 <-> /32. */
	assert_int_equal(eg_policy_priority_raw(AF_INET6, 128, 128, 0, true, true, 3),
			 eg_policy_priority_raw(AF_INET, 32, 32, 0, true, true, 3));
	a = sel4(24, 0, 0, 65535);
	b = sel4(24, 0, 0, 65535);
	b.net.af = AF_INET6;
	assert_int_equal(eg_policy_priority(&a, &b, 0), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_prefix_length_first),
		cmocka_unit_test(test_protocol_then_ports_then_order),
		cmocka_unit_test(test_range_and_uniqueness),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
