/* RFC 6817 §2.4.2: the LEDBAT sender (base and current delay lists, the linear cwnd controller,
 * loss and congestion timeout), §2.5 parameter values, §3 delay estimation, Appendix A clock
 * offset and skew; RFC 6298 §2 for the congestion timeout (CTO); RFC 7574 §8.15 for its use by
 * PPSPP, which leaves TARGET and the other parameters to the deployment.
 *
 * Delay samples are one-way delays between two unsynchronised clocks: the receiver's local time
 * minus our timestamp, carried as a 64-bit integer. With a receiver clock behind ours they are
 * negative, and arrive as huge unsigned numbers; they are read as two's complement signed
 * values here. Only differences are ever used (App. A.1: the offset cancels out), so any
 * offset works, including a negative one.
 *
 * Clock skew (App. A.2) is bounded by the base history itself: a sender clock running faster
 * makes the samples fall, and the base follows them down at once; a receiver clock running
 * faster makes them climb, and the error can build up for at most BASE_HISTORY minutes before
 * the minute holding the old minimum rolls out. Minute slots are taken from the caller's clock
 * (rounded to the minute, as update_base_delay() does), and idle minutes are stored as
 * +INFINITY so a flow idle for BASE_HISTORY minutes measures its base delay anew. */
#include <stdint.h>
#include <string.h>

#include "ppspp.h"

#define LEDBAT_TARGET_US	100000u	  /* §2.5: MUST be 100 ms or less */
#define LEDBAT_GAIN		1.0	  /* §2.5: MUST be 1 or less */
#define LEDBAT_ALLOWED_INCREASE 1u	  /* §2.5: SHOULD be 1 */
#define LEDBAT_MIN_CWND		2u	  /* §2.5: SHOULD be 2 */
#define LEDBAT_INIT_CWND	2u	  /* §2.5: SHOULD be 2 */
#define LEDBAT_CTO_INIT_US	1000000u  /* §2.4.2: CTO = 1 second */
#define LEDBAT_CTO_MAX_US	60000000u /* §2.4.2: a maximum, if any, MUST be >= 60 s */
#define LEDBAT_MINUTE_US	60000000ull
#define LEDBAT_NEVER		UINT64_MAX
/* +INFINITY in the base list; as a signed delay, larger than any real sample. */
#define LEDBAT_INFINITY ((uint64_t)INT64_MAX)

static int64_t signed_delay(uint64_t d)
{
	/* Two's complement reading without relying on implementation-defined conversion. */
	return d <= (uint64_t)INT64_MAX ? (int64_t)d : -(int64_t)(~d) - 1;
}

static uint64_t elapsed(uint64_t now, uint64_t then)
{
	/* A clock that stepped back counts as no time passed, never as centuries. */
	return now > then ? now - then : 0;
}

void ppspp_ledbat_init(struct ppspp_ledbat *l, uint32_t mss, uint64_t now_us)
{
	memset(l, 0, sizeof(*l));
	l->target_us = LEDBAT_TARGET_US;
	l->gain = LEDBAT_GAIN;
	l->mss = mss > 0 ? mss : 1;
	l->allowed_increase = LEDBAT_ALLOWED_INCREASE;
	l->min_cwnd = LEDBAT_MIN_CWND;
	l->init_cwnd = LEDBAT_INIT_CWND;
	l->rto_min_us = LEDBAT_CTO_INIT_US;
	l->cwnd = (double)l->init_cwnd * l->mss;
	for (int i = 0; i < PPSPP_LEDBAT_BASE_HISTORY; i++)
		l->base_history[i] = LEDBAT_INFINITY;
	l->base_last = -1; /* last_rollover = -INFINITY: the first sample opens a slot */
	l->rto_us = LEDBAT_CTO_INIT_US;
	l->last_cwnd_cut_us = LEDBAT_NEVER;
	l->last_ack_us = now_us;
}

bool ppspp_ledbat_can_send(const struct ppspp_ledbat *l, uint32_t bytes)
{
	/* An empty pipe may always take one segment, even one larger than a collapsed cwnd:
	 * otherwise nothing would ever be sent again to produce the ACK that reopens it. */
	return l->flightsize == 0 || (double)(l->flightsize + bytes) <= l->cwnd;
}

void ppspp_ledbat_on_send(struct ppspp_ledbat *l, uint32_t bytes)
{
	l->flightsize += bytes;
}

/* update_base_delay(): one minimum per minute of the caller's clock. */
static void update_base_delay(struct ppspp_ledbat *l, uint64_t now, uint64_t delay)
{
	uint64_t minute = now / LEDBAT_MINUTE_US;
	if (l->base_last < 0) {
		l->base_last = 0;
		l->base_history[0] = delay;
		l->base_minute = minute * LEDBAT_MINUTE_US;
		return;
	}
	uint64_t last = l->base_minute / LEDBAT_MINUTE_US;
	if (minute > last) {
		/* Minutes that passed without samples hold +INFINITY; then the new minute. */
		uint64_t steps = minute - last;
		if (steps > PPSPP_LEDBAT_BASE_HISTORY)
			steps = PPSPP_LEDBAT_BASE_HISTORY;
		for (uint64_t i = 0; i < steps; i++) {
			l->base_last = (l->base_last + 1) % PPSPP_LEDBAT_BASE_HISTORY;
			l->base_history[l->base_last] = LEDBAT_INFINITY;
		}
		l->base_history[l->base_last] = delay;
		l->base_minute = minute * LEDBAT_MINUTE_US;
	} else if (signed_delay(delay) < signed_delay(l->base_history[l->base_last])) {
		l->base_history[l->base_last] = delay;
	}
}

/* update_current_delay(): the last CURRENT_FILTER samples, with their arrival times. */
static void update_current_delay(struct ppspp_ledbat *l, uint64_t now, uint64_t delay)
{
	l->current[l->current_next] = delay;
	l->current_at[l->current_next] = now;
	l->current_next = (l->current_next + 1) % PPSPP_LEDBAT_CURRENT_FILTER;
	if (l->current_n < PPSPP_LEDBAT_CURRENT_FILTER)
		l->current_n++;
}

int64_t ppspp_ledbat_base_delay(const struct ppspp_ledbat *l)
{
	int64_t base = INT64_MAX;
	for (int i = 0; i < PPSPP_LEDBAT_BASE_HISTORY; i++) {
		int64_t d = signed_delay(l->base_history[i]);
		if (d < base)
			base = d;
	}
	return base;
}

/* FILTER(): the minimum of the recent samples (§2.4.2 suggests a MIN filter over a small window
 * for robustness to delay spikes such as delayed ACKs). The list MUST hold no sample older than
 * an RTT (§2.5): older ones are skipped, the newest always counts. */
static int64_t filtered_delay(const struct ppspp_ledbat *l)
{
	int newest =
	    (l->current_next + PPSPP_LEDBAT_CURRENT_FILTER - 1) % PPSPP_LEDBAT_CURRENT_FILTER;
	uint64_t now = l->current_at[newest];
	int64_t best = signed_delay(l->current[newest]);
	for (int k = 1; k < l->current_n; k++) {
		int i = (newest + PPSPP_LEDBAT_CURRENT_FILTER - k) % PPSPP_LEDBAT_CURRENT_FILTER;
		if (l->srtt_us > 0 && elapsed(now, l->current_at[i]) > l->srtt_us)
			continue;
		int64_t d = signed_delay(l->current[i]);
		if (d < best)
			best = d;
	}
	return best;
}

uint64_t ppspp_ledbat_queuing_delay(const struct ppspp_ledbat *l)
{
	if (l->current_n == 0 || l->base_last < 0)
		return 0;
	int64_t cur = filtered_delay(l), base = ppspp_ledbat_base_delay(l);
	if (cur <= base)
		return 0;
	/* Both are signed 64-bit; their difference may not fit one, but fits the unsigned. */
	return (uint64_t)cur - (uint64_t)base;
}

/* update_CTO(): RFC 6298 §2 (2.2)-(2.4), which RFC 6817 names for the CTO. A fresh sample also
 * undoes an earlier backoff, as RFC 6298 (5.7) does after a retransmission timeout. */
static void update_cto(struct ppspp_ledbat *l, uint64_t rtt)
{
	if (l->srtt_us == 0) {
		l->srtt_us = rtt;
		l->rttvar_us = rtt / 2;
	} else {
		uint64_t dev = l->srtt_us > rtt ? l->srtt_us - rtt : rtt - l->srtt_us;
		l->rttvar_us = (3 * l->rttvar_us + dev) / 4;
		l->srtt_us = (7 * l->srtt_us + rtt) / 8;
		if (l->srtt_us == 0)
			l->srtt_us = 1;
	}
	/* G, the clock granularity, is one microsecond here: K * RTTVAR dominates. */
	uint64_t var = 4 * l->rttvar_us > 1 ? 4 * l->rttvar_us : 1;
	uint64_t rto = l->srtt_us + var;
	if (rto < l->rto_min_us)
		rto = l->rto_min_us;
	if (rto > LEDBAT_CTO_MAX_US)
		rto = LEDBAT_CTO_MAX_US;
	l->rto_us = rto;
}

void ppspp_ledbat_on_ack(struct ppspp_ledbat *l, uint64_t now_us, uint32_t bytes_acked,
			 uint64_t delay_us, uint64_t rtt_us)
{
	if (rtt_us > 0)
		update_cto(l, rtt_us);
	update_base_delay(l, now_us, delay_us);
	update_current_delay(l, now_us, delay_us);

	double mss = l->mss;
	double target = l->target_us > 0 ? (double)l->target_us : 1.0;
	double off_target = (target - (double)ppspp_ledbat_queuing_delay(l)) / target;
	l->cwnd += l->gain * off_target * (double)bytes_acked * mss / l->cwnd;
	/* Application-limited senders may not bank window they never used (§2.4.2): flightsize
	 * is still the amount outstanding before this ACK. */
	double max_allowed = (double)l->flightsize + (double)l->allowed_increase * mss;
	if (l->cwnd > max_allowed)
		l->cwnd = max_allowed;
	if (l->cwnd < (double)l->min_cwnd * mss)
		l->cwnd = (double)l->min_cwnd * mss;
	l->flightsize -= bytes_acked < l->flightsize ? bytes_acked : l->flightsize;
	l->last_ack_us = now_us;
}

void ppspp_ledbat_on_timeout(struct ppspp_ledbat *l, uint64_t now_us)
{
	l->cwnd = l->mss;
	l->rto_us = 2 * l->rto_us < LEDBAT_CTO_MAX_US ? 2 * l->rto_us : LEDBAT_CTO_MAX_US;
	/* The collapse is this RTT's reduction: a loss reported with it must not halve again. */
	l->last_cwnd_cut_us = now_us;
	/* The next timeout is one (backed-off) CTO from now, not from the last ACK. */
	l->last_ack_us = now_us;
}

void ppspp_ledbat_on_loss(struct ppspp_ledbat *l, uint64_t now_us, uint32_t bytes_lost)
{
	/* "At most once per RTT": before any RTT sample, the CTO stands in for the RTT. */
	uint64_t rtt = l->srtt_us > 0 ? l->srtt_us : l->rto_us;
	if (l->last_cwnd_cut_us == LEDBAT_NEVER || elapsed(now_us, l->last_cwnd_cut_us) >= rtt) {
		double half = l->cwnd / 2, floor = (double)l->min_cwnd * l->mss;
		double cut = half > floor ? half : floor;
		if (cut < l->cwnd)
			l->cwnd = cut;
		l->last_cwnd_cut_us = now_us;
	}
	l->flightsize -= bytes_lost < l->flightsize ? bytes_lost : l->flightsize;
}

uint64_t ppspp_ledbat_rto_us(const struct ppspp_ledbat *l)
{
	return l->rto_us;
}
