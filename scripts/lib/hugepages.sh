# shellcheck shell=bash
# Sourced by the benches and tests that want DPDK hugepages (root): one way to reserve them,
# mount hugetlbfs, and give back what was reserved.

hugepages_free() { awk '/^HugePages_Free:/ { print $2 }' /proc/meminfo; }

# hugepages_reserve N: raises vm.nr_hugepages so that N pages are free, best effort (nothing
# when the sysctl is not writable). HUGEPAGES_RESTORE holds the earlier total when it was raised.
hugepages_reserve() {
	local need=$1 free total
	HUGEPAGES_RESTORE=""
	[ -w /proc/sys/vm/nr_hugepages ] || return 0
	free=$(hugepages_free)
	[ "${free:-0}" -lt "$need" ] || return 0
	total=$(awk '/^HugePages_Total:/ { print $2 }' /proc/meminfo)
	echo $((total + need - ${free:-0})) >/proc/sys/vm/nr_hugepages 2>/dev/null || return 0
	HUGEPAGES_RESTORE=$total
}

# Gives back what hugepages_reserve raised (for an EXIT trap).
hugepages_restore() {
	[ -z "${HUGEPAGES_RESTORE:-}" ] || echo "$HUGEPAGES_RESTORE" >/proc/sys/vm/nr_hugepages || true
}

# A hugetlbfs mount for DPDK at /dev/hugepages when there is none at all.
hugepages_mount() {
	grep -q ' hugetlbfs ' /proc/mounts && return 0
	mkdir -p /dev/hugepages && mount -t hugetlbfs nodev /dev/hugepages
}
