/* liburcu QSBR flavour, kept apart from the memb flavour: each flavour's header maps the
 * generic rcu_* names to its own symbols. */
#include <urcu/urcu-qsbr.h>

#include "cache_internal.h"

void cache_qsbr_register(void)
{
	urcu_qsbr_register_thread();
}

void cache_qsbr_unregister(void)
{
	urcu_qsbr_unregister_thread();
}

void cache_qsbr_quiescent(void)
{
	urcu_qsbr_quiescent_state();
}

void cache_qsbr_offline(void)
{
	urcu_qsbr_thread_offline();
}

void cache_qsbr_online(void)
{
	urcu_qsbr_thread_online();
}

void cache_qsbr_synchronize(void)
{
	/* Safe from a registered online thread: liburcu takes it offline for the wait. */
	urcu_qsbr_synchronize_rcu();
}
