/* The EAL of the DPDK unit tests in this folder: no hugepages, no PCI, lcore 0, and a file prefix
 * of their own (NAME_PID), so that parallel runs and other DPDK processes on the machine never
 * share a runtime directory; ut_eal_done removes that directory, which rte_eal_cleanup leaves. */
#ifndef PCDN_UT_EAL_H
#define PCDN_UT_EAL_H

#include <ftw.h>
#include <stdio.h>
#include <unistd.h>

#include <rte_eal.h>

#include "pcdn_common.h"

static inline int ut_eal_rm(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

/* rte_eal_init's result; mem_mb: the memory of the --no-huge heap, e.g. "512". */
static inline int ut_eal_init(char *argv0, const char *name, const char *mem_mb)
{
	char prefix[64];
	char *eal[] = {argv0,	   "--no-huge", "-m", (char *)(uintptr_t)mem_mb,
		       "--no-pci", "-l",	"0",  "--log-level=error",
		       prefix,	   NULL};

	snprintf(prefix, sizeof(prefix), "--file-prefix=%s_%d", name, (int)getpid());
	return rte_eal_init((int)PCDN_ARRAY_SIZE(eal) - 1, eal);
}

static inline void ut_eal_done(const char *name)
{
	char dir[128];

	rte_eal_cleanup();
	snprintf(dir, sizeof(dir), "/var/run/dpdk/%s_%d", name, (int)getpid());
	nftw(dir, ut_eal_rm, 8, FTW_DEPTH | FTW_PHYS);
}

#endif
