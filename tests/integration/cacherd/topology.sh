# Sourced by tests/integration/cacherd/test_pull_through.sh and scripts/demo.sh: the three-namespace
# topology of a pull-through cacher.
#   cacherd_topology_up NSD NSC NSU VC VD VK VU
# NSC (clients) --veth VC/VD-- NSD (VD left unaddressed for the cacher's DPDK net_af_packet port,
# IPv6 off on it so the kernel does not answer ND in the daemon's place); NSD's kernel stack
# 10.79.0.1 on VK --veth-- VU 10.79.0.2 in NSU (the upstream source). The caller removes the
# namespaces (deleting them deletes the veths).
cacherd_topology_up() {
	local nsd=$1 nsc=$2 nsu=$3 vc=$4 vd=$5 vk=$6 vu=$7
	ip netns add "$nsd"
	ip netns add "$nsc"
	ip netns add "$nsu"
	ip link add "$vc" type veth peer name "$vd"
	ip link set "$vc" netns "$nsc"
	ip link set "$vd" netns "$nsd"
	ip netns exec "$nsd" sysctl -qw "net.ipv6.conf.$vd.disable_ipv6=1"
	ip -n "$nsd" link set "$vd" up
	ip -n "$nsd" link set lo up
	ip link add "$vk" type veth peer name "$vu"
	ip link set "$vk" netns "$nsd"
	ip link set "$vu" netns "$nsu"
	ip -n "$nsd" addr add 10.79.0.1/24 dev "$vk"
	ip -n "$nsd" link set "$vk" up
	ip -n "$nsu" addr add 10.79.0.2/24 dev "$vu"
	ip -n "$nsu" link set "$vu" up
	ip -n "$nsu" link set lo up
}
