/* liburcu memb flavour (read-side lock/unlock) for readers that are ordinary threads. */
#include <urcu/urcu-memb.h>

#include "cache_internal.h"

void cache_memb_register(void)
{
	urcu_memb_register_thread();
}

void cache_memb_unregister(void)
{
	urcu_memb_unregister_thread();
}

void cache_memb_read_lock(void)
{
	urcu_memb_read_lock();
}

void cache_memb_read_unlock(void)
{
	urcu_memb_read_unlock();
}

void cache_memb_synchronize(void)
{
	urcu_memb_synchronize_rcu();
}
