/* The payload sum a cache slot's mbuf (slot_mbuf.h) carries for the glue (ppspp_glue.c). */
#ifndef CACHERD_SLOT_SUM_H
#define CACHERD_SLOT_SUM_H

#include <stdbool.h>
#include <stdint.h>

#include <rte_mbuf.h>

/* The payload's RFC 1071 sum (16 bits, not complemented) rides in the slot mbuf's RX hash field,
 * which no PMD reads on TX, with this bit set: a DATA's UDP checksum then needs no other line
 * than the one its chaining already reads. */
#define CACHERD_SLOT_SUM_SET 0x10000u

static inline bool cacherd_slot_sum(const struct rte_mbuf *m, uint16_t *sum)
{
	if (!(m->hash.usr & CACHERD_SLOT_SUM_SET))
		return false;
	*sum = (uint16_t)m->hash.usr;
	return true;
}

#endif
