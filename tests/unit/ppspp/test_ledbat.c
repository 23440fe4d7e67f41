/* CUnit suite "ledbat": RFC 6817 sender. Time is simulated (microseconds passed in), so every
 * check is exact and independent of the machine's speed. */
#include <CUnit/Basic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ppspp.h"

#define MSS    1024u
#define MS     1000ull
#define MINUTE (60ull * 1000 * MS)

static void test_defaults(void)
{
	struct ppspp_ledbat l;
	ppspp_ledbat_init(&l, MSS, 5 * MS);
	CU_ASSERT(l.target_us <= 100 * MS);
	CU_ASSERT(l.target_us > 0);
	CU_ASSERT(l.gain <= 1.0);
	CU_ASSERT_EQUAL(l.allowed_increase, 1);
	CU_ASSERT_EQUAL(l.min_cwnd, 2);
	CU_ASSERT_EQUAL(l.init_cwnd, 2);
	CU_ASSERT_DOUBLE_EQUAL(l.cwnd, 2.0 * MSS, 1e-9);
	CU_ASSERT_EQUAL(l.flightsize, 0);
	CU_ASSERT_EQUAL(ppspp_ledbat_rto_us(&l), 1000 * MS);
	CU_ASSERT_EQUAL(ppspp_ledbat_queuing_delay(&l), 0);
	CU_ASSERT_EQUAL(ppspp_ledbat_base_delay(&l), INT64_MAX);
}

static void test_flightsize(void)
{
	struct ppspp_ledbat l;
	ppspp_ledbat_init(&l, MSS, 0);
	CU_ASSERT(ppspp_ledbat_can_send(&l, MSS));
	ppspp_ledbat_on_send(&l, MSS);
	CU_ASSERT(ppspp_ledbat_can_send(&l, MSS));
	ppspp_ledbat_on_send(&l, MSS);
	CU_ASSERT_EQUAL(l.flightsize, 2 * MSS);
	CU_ASSERT_FALSE(ppspp_ledbat_can_send(&l, 1)); /* cwnd = 2 MSS, full */
	ppspp_ledbat_on_ack(&l, 10 * MS, MSS, 20 * MS, 10 * MS);
	CU_ASSERT_EQUAL(l.flightsize, MSS);
	CU_ASSERT(ppspp_ledbat_can_send(&l, MSS));
	ppspp_ledbat_on_loss(&l, 11 * MS, MSS);
	CU_ASSERT_EQUAL(l.flightsize, 0);
	/* Late or duplicate reports never take it below zero. */
	ppspp_ledbat_on_ack(&l, 12 * MS, MSS, 20 * MS, 0);
	ppspp_ledbat_on_loss(&l, 13 * MS, MSS);
	CU_ASSERT_EQUAL(l.flightsize, 0);
	/* An empty pipe takes one segment even when it is bigger than the window. */
	ppspp_ledbat_on_timeout(&l, 14 * MS);
	CU_ASSERT(ppspp_ledbat_can_send(&l, 3 * MSS));
	ppspp_ledbat_on_send(&l, 3 * MSS);
	CU_ASSERT_FALSE(ppspp_ledbat_can_send(&l, 1));

	/* Application-limited: the window cannot grow past flightsize + ALLOWED_INCREASE * MSS. */
	ppspp_ledbat_init(&l, MSS, 0);
	for (int i = 0; i < 1000; i++) {
		ppspp_ledbat_on_send(&l, MSS);
		ppspp_ledbat_on_ack(&l, (uint64_t)(i + 1) * MS, MSS, 20 * MS, 0);
		CU_ASSERT(l.cwnd <= 2.0 * MSS + 1e-9);
	}
}

static void test_grows_below_target(void)
{
	struct ppspp_ledbat l;
	uint64_t now = 0;
	ppspp_ledbat_init(&l, MSS, now);
	/* Keep the pipe full so the flightsize cap does not bind. */
	ppspp_ledbat_on_send(&l, 1000 * MSS);
	double prev = l.cwnd;
	for (int rtt = 0; rtt < 50; rtt++) {
		uint64_t segs = (uint64_t)(l.cwnd / MSS);
		for (uint64_t i = 0; i < segs; i++) {
			now += MS;
			ppspp_ledbat_on_send(&l, MSS);
			ppspp_ledbat_on_ack(&l, now, MSS, 30 * MS, 0); /* delay = base: no queue */
		}
		CU_ASSERT(l.cwnd > prev);
		prev = l.cwnd;
	}
	/* GAIN 1 with zero queueing delay: about one MSS per window of ACKs, like TCP's
	 * congestion avoidance (§3.2.1), never faster. */
	CU_ASSERT(l.cwnd <= (2.0 + 50.0) * MSS + 1);
	CU_ASSERT(l.cwnd >= (2.0 + 50.0 * 0.9) * MSS);
	CU_ASSERT_EQUAL(ppspp_ledbat_queuing_delay(&l), 0);

	/* Halfway to the target, the growth per window halves. */
	double before = l.cwnd;
	uint64_t segs = (uint64_t)(l.cwnd / MSS);
	for (uint64_t i = 0; i < segs; i++) {
		now += MS;
		ppspp_ledbat_on_send(&l, MSS);
		ppspp_ledbat_on_ack(&l, now, MSS, 30 * MS + l.target_us / 2, 0);
	}
	CU_ASSERT(l.cwnd - before > 0.4 * MSS);
	CU_ASSERT(l.cwnd - before < 0.6 * MSS);
}

static void test_shrinks_above_target(void)
{
	struct ppspp_ledbat l;
	uint64_t now = 0;
	ppspp_ledbat_init(&l, MSS, now);
	ppspp_ledbat_on_send(&l, 1000 * MSS);
	for (int i = 0; i < 2000; i++) {
		now += MS;
		ppspp_ledbat_on_send(&l, MSS);
		ppspp_ledbat_on_ack(&l, now, MSS, 30 * MS, 0);
	}
	double grown = l.cwnd;
	CU_ASSERT(grown > 20.0 * MSS);
	/* Queueing delay 2.5 x TARGET: off_target = -1.5, the window falls every ACK once the
	 * MIN filter is full of the new delay (the first CURRENT_FILTER - 1 ACKs still see an
	 * old low sample). */
	double prev = l.cwnd;
	for (int i = 0; i < 1200; i++) {
		now += MS;
		ppspp_ledbat_on_send(&l, MSS);
		ppspp_ledbat_on_ack(&l, now, MSS, 30 * MS + 250 * MS, 0);
		if (i >= PPSPP_LEDBAT_CURRENT_FILTER - 1)
			CU_ASSERT(l.cwnd < prev);
		prev = l.cwnd;
	}
	CU_ASSERT_EQUAL(ppspp_ledbat_queuing_delay(&l), 250 * MS);
	CU_ASSERT(l.cwnd < grown / 2);
	/* Long enough and it reaches the floor, MIN_CWND * MSS, and stays there. */
	for (int i = 0; i < 5000; i++) {
		now += MS;
		ppspp_ledbat_on_send(&l, MSS);
		ppspp_ledbat_on_ack(&l, now, MSS, 30 * MS + 250 * MS, 0);
	}
	CU_ASSERT_DOUBLE_EQUAL(l.cwnd, 2.0 * MSS, 1e-9);
}

static void test_current_filter(void)
{
	struct ppspp_ledbat l;
	uint64_t now = 0;
	ppspp_ledbat_init(&l, MSS, now);
	ppspp_ledbat_on_send(&l, 100 * MSS);
	ppspp_ledbat_on_ack(&l, now += MS, MSS, 10 * MS, 0);
	/* One spike among low samples is filtered out by the MIN filter... */
	ppspp_ledbat_on_ack(&l, now += MS, MSS, 10 * MS, 0);
	ppspp_ledbat_on_ack(&l, now += MS, MSS, 400 * MS, 0);
	CU_ASSERT_EQUAL(ppspp_ledbat_queuing_delay(&l), 0);
	/* ...a persistent rise is not, once it fills the filter. */
	for (int i = 0; i < PPSPP_LEDBAT_CURRENT_FILTER; i++)
		ppspp_ledbat_on_ack(&l, now += MS, MSS, 60 * MS, 0);
	CU_ASSERT_EQUAL(ppspp_ledbat_queuing_delay(&l), 50 * MS);
	/* Samples older than an RTT leave the filter even before being replaced. */
	ppspp_ledbat_on_ack(&l, now += MS, MSS, 10 * MS, 20 * MS); /* srtt = 20 ms */
	for (int i = 0; i < PPSPP_LEDBAT_CURRENT_FILTER - 1; i++)
		ppspp_ledbat_on_ack(&l, now += MS, MSS, 60 * MS, 0);
	CU_ASSERT_EQUAL(ppspp_ledbat_queuing_delay(&l), 0); /* the low one is 3 ms old */
	now += 30 * MS;
	ppspp_ledbat_on_ack(&l, now, MSS, 60 * MS, 0);
	CU_ASSERT_EQUAL(ppspp_ledbat_queuing_delay(&l), 50 * MS);
}

static void test_base_history(void)
{
	struct ppspp_ledbat l;
	uint64_t now = 0;
	ppspp_ledbat_init(&l, MSS, now);
	ppspp_ledbat_on_send(&l, 100000 * MSS);
	/* Minute 0 sees the lowest delay, 50 ms; every later minute sees 80 ms. */
	ppspp_ledbat_on_ack(&l, now + 10 * MS, MSS, 50 * MS, 0);
	ppspp_ledbat_on_ack(&l, now + 20 * MS, MSS, 70 * MS, 0);
	CU_ASSERT_EQUAL(ppspp_ledbat_base_delay(&l), 50 * MS);
	for (uint64_t m = 1; m < PPSPP_LEDBAT_BASE_HISTORY; m++) {
		for (int s = 0; s < 6; s++)
			ppspp_ledbat_on_ack(&l, m * MINUTE + (uint64_t)s * 10000 * MS, MSS, 80 * MS,
					    0);
		/* The minute-0 minimum is still one of the BASE_HISTORY minima. */
		CU_ASSERT_EQUAL(ppspp_ledbat_base_delay(&l), 50 * MS);
		CU_ASSERT_EQUAL(ppspp_ledbat_queuing_delay(&l), 30 * MS);
	}
	/* Minute BASE_HISTORY: the oldest minimum rolls out; the base is now 80 ms. */
	ppspp_ledbat_on_ack(&l, PPSPP_LEDBAT_BASE_HISTORY * MINUTE + MS, MSS, 80 * MS, 0);
	CU_ASSERT_EQUAL(ppspp_ledbat_base_delay(&l), 80 * MS);
	CU_ASSERT_EQUAL(ppspp_ledbat_queuing_delay(&l), 0);

	/* A lower base (a shorter route) is adopted at once. */
	now = PPSPP_LEDBAT_BASE_HISTORY * MINUTE + 2 * MS;
	ppspp_ledbat_on_ack(&l, now, MSS, 20 * MS, 0);
	CU_ASSERT_EQUAL(ppspp_ledbat_base_delay(&l), 20 * MS);

	/* Idle for longer than BASE_HISTORY minutes: every minimum is +INFINITY but the new
	 * minute's, so measurement starts anew from the first sample. */
	now += (PPSPP_LEDBAT_BASE_HISTORY + 5) * MINUTE;
	ppspp_ledbat_on_ack(&l, now, MSS, 200 * MS, 0);
	CU_ASSERT_EQUAL(ppspp_ledbat_base_delay(&l), 200 * MS);
	CU_ASSERT_EQUAL(ppspp_ledbat_queuing_delay(&l), 0);

	/* Idle for a few minutes only: the older minima survive. (The RTT sample keeps the
	 * minutes-old samples out of the current filter.) */
	ppspp_ledbat_on_ack(&l, now + 3 * MINUTE, MSS, 260 * MS, 10 * MS);
	CU_ASSERT_EQUAL(ppspp_ledbat_base_delay(&l), 200 * MS);
	CU_ASSERT_EQUAL(ppspp_ledbat_queuing_delay(&l), 60 * MS);

	/* A clock that steps back stays in the current minute, it does not roll over. */
	ppspp_ledbat_on_ack(&l, now, MSS, 190 * MS, 0);
	CU_ASSERT_EQUAL(ppspp_ledbat_base_delay(&l), 190 * MS);
}

static void test_clock_offset_and_skew(void)
{
	/* App. A.1: a receiver clock 7 s behind ours makes every sample negative, sent as a
	 * wrapped 64-bit value; only differences matter. */
	struct ppspp_ledbat l;
	ppspp_ledbat_init(&l, MSS, 0);
	ppspp_ledbat_on_send(&l, 100 * MSS);
	int64_t off = -7000 * (int64_t)MS;
	ppspp_ledbat_on_ack(&l, MS, MSS, (uint64_t)(off + 30 * (int64_t)MS), 0);
	CU_ASSERT_EQUAL(ppspp_ledbat_base_delay(&l), off + 30 * (int64_t)MS);
	for (int i = 0; i < PPSPP_LEDBAT_CURRENT_FILTER; i++)
		ppspp_ledbat_on_ack(&l, (uint64_t)(2 + i) * MS, MSS,
				    (uint64_t)(off + 75 * (int64_t)MS), 0);
	CU_ASSERT_EQUAL(ppspp_ledbat_queuing_delay(&l), 45 * MS);
	/* Positive and negative samples mixed: a clock offset near zero. */
	ppspp_ledbat_init(&l, MSS, 0);
	ppspp_ledbat_on_send(&l, 100 * MSS);
	ppspp_ledbat_on_ack(&l, MS, MSS, (uint64_t)(-(int64_t)(5 * MS)), 0);
	for (int i = 0; i < PPSPP_LEDBAT_CURRENT_FILTER; i++)
		ppspp_ledbat_on_ack(&l, (uint64_t)(2 + i) * MS, MSS, 15 * MS, 0);
	CU_ASSERT_EQUAL(ppspp_ledbat_queuing_delay(&l), 20 * MS);

	/* App. A.2: a receiver clock 200 ppm fast adds 12 ms per minute to every sample. Over an
	 * hour that is 720 ms, but the base history bounds the error to about BASE_HISTORY
	 * minutes of drift: the estimate never runs away. */
	ppspp_ledbat_init(&l, MSS, 0);
	ppspp_ledbat_on_send(&l, 1000000 * MSS);
	uint64_t worst = 0;
	for (uint64_t t = 0; t < 60 * MINUTE; t += 500 * MS) {
		uint64_t d = 30 * MS + t / 5000; /* 200 ppm */
		ppspp_ledbat_on_ack(&l, t, MSS, d, 0);
		uint64_t q = ppspp_ledbat_queuing_delay(&l);
		if (q > worst)
			worst = q;
	}
	CU_ASSERT(worst <= PPSPP_LEDBAT_BASE_HISTORY * 12 * MS + 1);
	CU_ASSERT(worst >= (PPSPP_LEDBAT_BASE_HISTORY - 1) * 12 * MS);
	/* A sender clock 200 ppm fast: samples fall, the base follows, no queue is seen. */
	ppspp_ledbat_init(&l, MSS, 0);
	ppspp_ledbat_on_send(&l, 1000000 * MSS);
	for (uint64_t t = 0; t < 30 * MINUTE; t += 500 * MS) {
		ppspp_ledbat_on_ack(&l, t, MSS, 1000 * MS - t / 5000, 0);
		CU_ASSERT_EQUAL(ppspp_ledbat_queuing_delay(&l), 0);
	}
}

static void test_rto(void)
{
	struct ppspp_ledbat l;
	ppspp_ledbat_init(&l, MSS, 0);
	ppspp_ledbat_on_send(&l, 10 * MSS);
	/* RFC 6298 (2.2): SRTT = R, RTTVAR = R/2, RTO = SRTT + 4 RTTVAR, at least 1 s. */
	ppspp_ledbat_on_ack(&l, 400 * MS, MSS, 0, 300 * MS);
	CU_ASSERT_EQUAL(l.srtt_us, 300 * MS);
	CU_ASSERT_EQUAL(l.rttvar_us, 150 * MS);
	CU_ASSERT_EQUAL(ppspp_ledbat_rto_us(&l), 1000 * MS);
	/* (2.3) with a lower floor, to see the formula itself. */
	l.rto_min_us = 1;
	ppspp_ledbat_on_ack(&l, 500 * MS, MSS, 0, 100 * MS);
	CU_ASSERT_EQUAL(l.rttvar_us, (3 * 150 * MS + 200 * MS) / 4);
	CU_ASSERT_EQUAL(l.srtt_us, (7 * 300 * MS + 100 * MS) / 8);
	CU_ASSERT_EQUAL(ppspp_ledbat_rto_us(&l), l.srtt_us + 4 * l.rttvar_us);
	/* Backoff doubles up to 60 s; a new sample recomputes it. */
	uint64_t r = ppspp_ledbat_rto_us(&l);
	ppspp_ledbat_on_timeout(&l, 600 * MS);
	CU_ASSERT_EQUAL(ppspp_ledbat_rto_us(&l), 2 * r);
	for (int i = 0; i < 20; i++)
		ppspp_ledbat_on_timeout(&l, 600 * MS);
	CU_ASSERT_EQUAL(ppspp_ledbat_rto_us(&l), 60000 * MS);
	ppspp_ledbat_on_ack(&l, 700 * MS, MSS, 0, 100 * MS);
	CU_ASSERT(ppspp_ledbat_rto_us(&l) < 1000 * MS);
}

static void test_loss_once_per_rtt(void)
{
	struct ppspp_ledbat l;
	uint64_t now = 0;
	ppspp_ledbat_init(&l, MSS, now);
	ppspp_ledbat_on_send(&l, 1000 * MSS);
	for (int i = 0; i < 3000; i++) {
		now += MS;
		ppspp_ledbat_on_send(&l, MSS);
		ppspp_ledbat_on_ack(&l, now, MSS, 30 * MS, 50 * MS); /* srtt 50 ms */
	}
	double w = l.cwnd;
	CU_ASSERT(w > 32.0 * MSS);
	CU_ASSERT_EQUAL(l.srtt_us, 50 * MS);
	uint64_t fs = l.flightsize;
	/* A burst of losses within one RTT: one halving. */
	ppspp_ledbat_on_loss(&l, now + 1 * MS, MSS);
	CU_ASSERT_DOUBLE_EQUAL(l.cwnd, w / 2, 1e-6);
	for (int i = 2; i < 50; i++)
		ppspp_ledbat_on_loss(&l, now + (uint64_t)i * MS, MSS);
	CU_ASSERT_DOUBLE_EQUAL(l.cwnd, w / 2, 1e-6);
	CU_ASSERT_EQUAL(l.flightsize, fs - 49 * MSS);
	/* One RTT later: the next loss halves again. */
	ppspp_ledbat_on_loss(&l, now + 51 * MS, MSS);
	CU_ASSERT_DOUBLE_EQUAL(l.cwnd, w / 4, 1e-6);
	/* Never below MIN_CWND * MSS. */
	for (int i = 2; i < 20; i++)
		ppspp_ledbat_on_loss(&l, now + (uint64_t)i * 51 * MS, MSS);
	CU_ASSERT_DOUBLE_EQUAL(l.cwnd, 2.0 * MSS, 1e-9);
}

static void test_timeout(void)
{
	struct ppspp_ledbat l;
	uint64_t now = 0;
	ppspp_ledbat_init(&l, MSS, now);
	ppspp_ledbat_on_send(&l, 1000 * MSS);
	for (int i = 0; i < 2000; i++) {
		now += MS;
		ppspp_ledbat_on_send(&l, MSS);
		ppspp_ledbat_on_ack(&l, now, MSS, 30 * MS, 40 * MS);
	}
	CU_ASSERT(l.cwnd > 10.0 * MSS);
	uint64_t rto = ppspp_ledbat_rto_us(&l);
	CU_ASSERT_EQUAL(rto, 1000 * MS);
	/* Explicit CTO: one segment, backed-off timer. */
	struct ppspp_ledbat t = l;
	ppspp_ledbat_on_timeout(&t, now + rto);
	CU_ASSERT_DOUBLE_EQUAL(t.cwnd, MSS, 1e-9);
	CU_ASSERT_EQUAL(ppspp_ledbat_rto_us(&t), 2 * rto);
	CU_ASSERT_EQUAL(t.flightsize, l.flightsize);
	/* The next ACK lifts it back to MIN_CWND at least. */
	ppspp_ledbat_on_ack(&t, now + rto + MS, MSS, 30 * MS, 0);
	CU_ASSERT(t.cwnd >= 2.0 * MSS);

	/* A loss reported with the collapse does not halve the single segment again. */
	ppspp_ledbat_on_loss(&t, now + rto + 2 * MS, MSS);
	CU_ASSERT(t.cwnd >= 2.0 * MSS);

	/* The caller's timer runs from the last ACK or CTO: a timeout restarts it, so the
	 * next one comes a doubled CTO later (exponential backoff while nothing is ACKed). */
	t = l;
	uint64_t at = now;
	int timeouts = 0;
	for (uint64_t clk = now; clk < now + 100000 * MS; clk += 10 * MS) {
		if (clk - t.last_ack_us >= ppspp_ledbat_rto_us(&t)) {
			ppspp_ledbat_on_timeout(&t, clk);
			CU_ASSERT(clk - at >= (1000 * MS) << (timeouts < 6 ? timeouts : 6));
			at = clk;
			timeouts++;
		}
	}
	/* After 1, 2, 4, 8, 16 and 32 s (63 s in all) the CTO is capped at 60 s: six in 100 s. */
	CU_ASSERT_EQUAL(timeouts, 6);
	CU_ASSERT_EQUAL(ppspp_ledbat_rto_us(&t), 60000 * MS);
	CU_ASSERT_DOUBLE_EQUAL(t.cwnd, MSS, 1e-9);

	/* Losses alone never collapse the window: they halve it, once per RTT. */
	t = l;
	ppspp_ledbat_on_loss(&t, now + 5 * rto, MSS);
	CU_ASSERT_DOUBLE_EQUAL(t.cwnd, l.cwnd / 2, 1e-9);
	CU_ASSERT_EQUAL(ppspp_ledbat_rto_us(&t), rto);
}

/* A bottleneck of fixed rate with a FIFO queue, a fixed propagation delay each way, one LEDBAT
 * flow that always has data, and an ACK per segment carrying the one-way delay sample. All
 * events are computed exactly: departures are known when a segment enters the queue. */
struct sim_seg {
	uint64_t sent, depart, ack_at, delay;
};

static void run_bottleneck(double rate, uint64_t prop, int64_t offset)
{
	const uint64_t tx = (uint64_t)(MSS / rate);
	const uint64_t end = 240000 * MS, measure = 120000 * MS;
	enum { RING = 4096 };
	struct sim_seg *q = calloc(RING, sizeof(*q));
	unsigned head = 0, tail = 0;
	struct ppspp_ledbat l;
	uint64_t now = 0, link_free = 0;
	ppspp_ledbat_init(&l, MSS, now);

	double qsum = 0, qmax = 0;
	uint64_t qn = 0, busy = 0;
	while (now < end) {
		while (ppspp_ledbat_can_send(&l, MSS) && tail - head < RING) {
			struct sim_seg *s = &q[tail++ % RING];
			s->sent = now;
			s->depart = (link_free > now ? link_free : now) + tx;
			link_free = s->depart;
			s->delay = s->depart + prop - now + (uint64_t)offset;
			s->ack_at = s->depart + 2 * prop;
			ppspp_ledbat_on_send(&l, MSS);
		}
		CU_ASSERT_FATAL(tail != head);
		struct sim_seg *s = &q[head++ % RING];
		now = s->ack_at;
		if (s->sent >= measure) {
			double wait = (double)(s->depart - tx - s->sent);
			qsum += wait;
			if (wait > qmax)
				qmax = wait;
			qn++;
			busy += tx;
		}
		ppspp_ledbat_on_ack(&l, now, MSS, s->delay, now - s->sent);
	}
	double qmean = qsum / (double)qn;
	/* Segments sent in [measure, end) kept the link busy for this share of that time; the
	 * last ones are still queued at the end, so the window is their sending span. */
	double util = (double)busy / (double)(end - measure);
	printf("\n    bottleneck: mean queueing delay %.1f ms, max %.1f ms, utilisation %.3f, "
	       "cwnd %.1f MSS\n",
	       qmean / 1000, qmax / 1000, util, l.cwnd / MSS);
	/* LEDBAT keeps the queue it causes near TARGET... */
	CU_ASSERT(qmean > 0.8 * (double)l.target_us);
	CU_ASSERT(qmean < 1.2 * (double)l.target_us);
	CU_ASSERT(qmax < 1.5 * (double)l.target_us);
	/* ...while keeping the link busy. */
	CU_ASSERT(util > 0.95);
	CU_ASSERT(util < 1.05);
	free(q);
}

static void test_bottleneck(void)
{
	/* 2 Mbit/s, 20 ms each way, receiver clock an hour ahead. */
	run_bottleneck(0.25, 20 * MS, 3600000 * (int64_t)MS);
	/* 4 Mbit/s, 5 ms each way, receiver clock an hour behind (negative samples). */
	run_bottleneck(0.5, 5 * MS, -3600000 * (int64_t)MS);
}

int main(void)
{
	CU_pSuite s;

	if (CU_initialize_registry() != CUE_SUCCESS)
		return 1;
	s = CU_add_suite("ledbat", NULL, NULL);
	CU_add_test(s, "defaults", test_defaults);
	CU_add_test(s, "flightsize", test_flightsize);
	CU_add_test(s, "grows_below_target", test_grows_below_target);
	CU_add_test(s, "shrinks_above_target", test_shrinks_above_target);
	CU_add_test(s, "current_filter", test_current_filter);
	CU_add_test(s, "base_history", test_base_history);
	CU_add_test(s, "clock_offset_and_skew", test_clock_offset_and_skew);
	CU_add_test(s, "rto", test_rto);
	CU_add_test(s, "loss_once_per_rtt", test_loss_once_per_rtt);
	CU_add_test(s, "timeout", test_timeout);
	CU_add_test(s, "bottleneck", test_bottleneck);
	CU_basic_set_mode(CU_BRM_VERBOSE);
	CU_basic_run_tests();
	unsigned fails = CU_get_number_of_failures();
	CU_cleanup_registry();
	return fails ? 1 : 0;
}
