#!/bin/sh
# netns.sh - three "hosts" on one machine for the MPI tests and benchmark
# (docs/cluster.md): network namespaces joined by veth pairs on a bridge,
# addresses of the run's own, and an Open MPI launcher (plm_rsh_agent)
# that starts each host's daemon with `ip netns exec HOST unshare --uts`
# under that host's own hostname.
#
#   . tests/cluster/netns.sh
#   tp_netns_up            # makes the hosts; sets TP_HOSTS, TP_HOSTFILE,
#                          # TP_MPIRUN (mpirun with the options to use)
#   $TP_MPIRUN -n 4 ./prog
#   tp_netns_down          # removes everything (call it from a trap)
#
# Needs root, iproute2, unshare and mpirun; tp_netns_check says why not.
# Every name carries the shell's pid, so parallel runs do not collide.

TP_NS_ID=${TP_NS_ID:-$$}
TP_NS_DIR=${TP_NS_DIR:-/tmp/tp-netns.$TP_NS_ID}
TP_NS_BR=tpbr$TP_NS_ID
TP_NS_NET=${TP_NS_NET:-10.$((TP_NS_ID % 200 + 20)).$((TP_NS_ID / 200 % 250))}

# Prints why the hosts cannot be made, or nothing; returns non-zero then.
tp_netns_check() {
	if [ "$(id -u)" != 0 ]; then echo "not root"; return 1; fi
	for c in ip unshare mpirun; do
		command -v $c >/dev/null 2>&1 || { echo "no $c"; return 1; }
	done
	ip netns add tpchk$TP_NS_ID 2>/dev/null || { echo "ip netns does not work here"; return 1; }
	ip netns del tpchk$TP_NS_ID
	return 0
}

tp_netns_host() { echo "tph$1x$TP_NS_ID"; }

tp_netns_up() {
	mkdir -p "$TP_NS_DIR" || return 1
	ip link add "$TP_NS_BR" type bridge || return 1
	ip link set "$TP_NS_BR" up || return 1
	TP_HOSTS=
	: >"$TP_NS_DIR/hostfile"
	: >"$TP_NS_DIR/hosts"
	for i in 1 2 3; do
		h=$(tp_netns_host $i)
		ip netns add "$h" || return 1
		ip link add "tpv$i$TP_NS_ID" type veth peer name "tpp$i$TP_NS_ID" || return 1
		ip link set "tpv$i$TP_NS_ID" master "$TP_NS_BR" up || return 1
		ip link set "tpp$i$TP_NS_ID" netns "$h" || return 1
		ip -n "$h" link set "tpp$i$TP_NS_ID" name eth0 || return 1
		ip -n "$h" addr add "$TP_NS_NET.$i/24" dev eth0 || return 1
		ip -n "$h" link set eth0 up || return 1
		ip -n "$h" link set lo up || return 1
		# Open MPI 4.1's daemons learn that a peer is unreachable only
		# when TCP gives up on unacknowledged data: ~15 min by default,
		# ~6 s with 4 retries (docs/cluster.md, "A cut link").
		ip netns exec "$h" sh -c 'echo 4 >/proc/sys/net/ipv4/tcp_retries2' || return 1
		echo "$TP_NS_NET.$i $h" >>"$TP_NS_DIR/hosts"
		TP_HOSTS="$TP_HOSTS $h"
	done
	# mpirun itself runs in host 1 (its daemons dial back to it there).
	# The launcher: "AGENT [-options] HOST command..." (Open MPI's rsh
	# form); the host's daemon gets its own UTS namespace and hostname.
	cat >"$TP_NS_DIR/rsh" <<EOS
#!/bin/sh
while [ \$# -gt 0 ]; do
	case "\$1" in -*) shift ;; *) break ;; esac
done
host=\$1; shift
exec ip netns exec "\$host" unshare --uts sh -c 'hostname "\$0" && exec sh -c "\$*"' "\$host" "\$*"
EOS
	chmod +x "$TP_NS_DIR/rsh"
	for h in $TP_HOSTS; do echo "$h slots=2" >>"$TP_NS_DIR/hostfile"; done
	TP_HOSTFILE=$TP_NS_DIR/hostfile
	TP_HOST1=$(tp_netns_host 1)
	# Names resolve through the hosts file of each namespace
	# (/etc/netns/HOST/hosts is bind-mounted by ip netns exec).
	for h in $TP_HOSTS; do
		mkdir -p "/etc/netns/$h" || return 1
		{ echo "127.0.0.1 localhost"; cat "$TP_NS_DIR/hosts"; } >"/etc/netns/$h/hosts"
	done
	TP_MPIRUN="ip netns exec $TP_HOST1 unshare --uts sh -c 'hostname $TP_HOST1 && exec \"\$0\" \"\$@\"' mpirun --allow-run-as-root --hostfile $TP_HOSTFILE --mca plm_rsh_agent $TP_NS_DIR/rsh --mca btl self,tcp --mca pml ob1 --mca btl_tcp_if_include eth0 --mca oob_tcp_if_include eth0 --mca plm_rsh_no_tree_spawn 1 --mca oob_tcp_keepalive_time 2 --mca oob_tcp_keepalive_intvl 1 --mca oob_tcp_keepalive_probes 3"
	export TP_HOSTS TP_HOSTFILE TP_MPIRUN TP_HOST1
}

# Kills whatever still runs in the hosts, then removes them and what
# they left in the file system.
tp_netns_down() {
	for i in 1 2 3; do
		h=$(tp_netns_host $i)
		pids=$(ip netns pids "$h" 2>/dev/null)
		[ -n "$pids" ] && kill -9 $pids 2>/dev/null
		ip netns del "$h" 2>/dev/null
		rm -rf "/etc/netns/$h"
		# Open MPI's session directories ("ompi.HOST.UID", named
		# after the host's hostname), which a daemon killed -9 or cut
		# off cannot remove
		rm -rf "${TMPDIR:-/tmp}/ompi.$h".*
	done
	ip link del "$TP_NS_BR" 2>/dev/null
	rm -rf "$TP_NS_DIR"
	return 0
}

# Prints the pids still running in any host (nothing when clean).
tp_netns_left() {
	for h in $TP_HOSTS; do ip netns pids "$h" 2>/dev/null; done
}
