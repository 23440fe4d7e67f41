/* RFC 6817: LEDBAT, Low Extra Delay Background Transport, the sender-side congestion control
 * PPSPP uses (RFC 7574 §8.15). Part of ppspp.h; include that. One instance per channel; pure:
 * the caller passes the time. */
#ifndef PPSPP_LEDBAT_H
#define PPSPP_LEDBAT_H

#include <stdbool.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define PPSPP_LEDBAT_BASE_HISTORY 10   /* minutes of base delay kept (§2.4.2: BASE_HISTORY) */
#define PPSPP_LEDBAT_CURRENT_FILTER 4  /* samples in the current delay filter */

struct ppspp_ledbat {
	/* parameters (§2.4.2 / §3) */
	uint64_t target_us;     /* TARGET, at most 100 ms */
	double gain;            /* GAIN, at most 1 */
	uint32_t mss;           /* bytes per segment (the chunk plus headers) */
	uint32_t allowed_increase;
	uint32_t min_cwnd;      /* segments */
	uint32_t init_cwnd;     /* segments */
	uint64_t rto_min_us;    /* floor of the CTO computed from RTT samples (RFC 6298 (2.4): 1 s) */
	/* state */
	double cwnd;            /* bytes */
	uint64_t flightsize;    /* bytes sent, not yet acknowledged or lost */
	uint64_t base_history[PPSPP_LEDBAT_BASE_HISTORY];
	uint64_t base_minute;   /* time (us) the newest base_history slot started */
	int base_last;
	uint64_t current[PPSPP_LEDBAT_CURRENT_FILTER];
	uint64_t current_at[PPSPP_LEDBAT_CURRENT_FILTER]; /* when each sample arrived (us) */
	int current_n, current_next;
	/* RTT estimate (RFC 6298) for the retransmission/loss timer */
	uint64_t srtt_us, rttvar_us, rto_us;
	uint64_t last_cwnd_cut_us;
	uint64_t last_ack_us;   /* last ACK or CTO: the congestion timer runs from here */
};

void ppspp_ledbat_init(struct ppspp_ledbat *l, uint32_t mss, uint64_t now_us);
/* Room in the window for `bytes` more in flight. */
bool ppspp_ledbat_can_send(const struct ppspp_ledbat *l, uint32_t bytes);
void ppspp_ledbat_on_send(struct ppspp_ledbat *l, uint32_t bytes);
/* An ACK covering bytes_acked with one one-way delay sample (us) and, when known, an RTT
 * sample (0 if none). */
void ppspp_ledbat_on_ack(struct ppspp_ledbat *l, uint64_t now_us, uint32_t bytes_acked,
			 uint64_t delay_us, uint64_t rtt_us);
/* Data presumed lost (timeout or re-request): halves cwnd at most once per RTT (§2.4.2) and
 * takes it out of flightsize (PPSPP senders never retransmit on their own: a re-request is new
 * data). */
void ppspp_ledbat_on_loss(struct ppspp_ledbat *l, uint64_t now_us, uint32_t bytes_lost);
/* No ACK at all for rto while data is outstanding (the caller's timer: now - last_ack_us >=
 * rto_us): cwnd falls to one segment and the CTO doubles, up to 60 s, until the next RTT sample
 * (§2.4.2 / RFC 6298). Leaves flightsize alone: report the lost data with on_loss. */
void ppspp_ledbat_on_timeout(struct ppspp_ledbat *l, uint64_t now_us);
/* Current queueing delay estimate (us): FILTER(current delays) - MIN(base delays), >= 0. */
uint64_t ppspp_ledbat_queuing_delay(const struct ppspp_ledbat *l);
/* MIN(base delays), the one-way base delay estimate, as the signed value of the samples (one-way
 * delays between unsynchronised clocks may be negative); INT64_MAX before any sample. */
int64_t ppspp_ledbat_base_delay(const struct ppspp_ledbat *l);
uint64_t ppspp_ledbat_rto_us(const struct ppspp_ledbat *l);

#ifdef __cplusplus
}
#endif

#endif
