#!/usr/bin/env bash
# slurm-cluster.sh: a one-node Slurm cluster on this machine, for tests and for trying
# deploy/slurm/ without a real cluster (Debian's slurm-wlm and munge; daemons as root).
#
#   scripts/slurm-cluster.sh start STATE   install if missing, write STATE/slurm.conf, start
#                                          munged, slurmctld and slurmd; wait until the node is
#                                          idle; print `export SLURM_CONF=STATE/slurm.conf`
#   scripts/slurm-cluster.sh stop STATE    stop exactly the daemons this script started
#                                          (by the pids in STATE), never by name
#
# Every wait is bounded: a daemon that does not come up gives a message naming it and
# the tail of its log, and exit 1 (never a hang). Clients find the cluster through
# SLURM_CONF, so nothing in /etc/slurm is touched.
set -euo pipefail

die() {
	echo "slurm-cluster: $*" >&2
	exit 1
}

start() {
	local state=$1
	[ "$(id -u)" -eq 0 ] || die "the daemons run as root (SlurmUser=root); run as root"
	if ! command -v slurmctld >/dev/null || ! command -v munged >/dev/null; then
		echo "slurm-cluster: installing slurm-wlm and munge" >&2
		apt-get update -qq || die "apt-get update failed"
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq slurm-wlm munge >/dev/null ||
			die "cannot install slurm-wlm and munge"
	fi
	mkdir -p "$state/state" "$state/spool" "$state/munge"
	state=$(cd "$state" && pwd)
	chmod 755 "$state" # munged needs every directory above its socket searchable
	local host cpus
	host=$(hostname)
	cpus=$(nproc)

	# munge: a key of our own and a socket in STATE, so a munged already running on the
	# machine is neither used nor disturbed.
	local key=$state/munge/munge.key sock=$state/munge/munge.socket
	if [ ! -f "$key" ]; then
		dd if=/dev/urandom bs=1 count=1024 of="$key" status=none
	fi
	chown -R munge:munge "$state/munge"
	chmod 711 "$state/munge"
	chmod 400 "$key"
	su -s /bin/sh munge -c "test -w $state/munge" ||
		die "user munge cannot reach $state/munge: every directory above it must be searchable (chmod 755)"
	su -s /bin/sh munge -c "munged --key-file=$key --socket=$sock --pid-file=$state/munge/munged.pid --log-file=$state/munge/munged.log --seed-file=$state/munge/munged.seed" ||
		die "munged did not start (log: $state/munge/munged.log)"

	cat >"$state/slurm.conf" <<CONF
ClusterName=eabstest
SlurmctldHost=$host
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
AuthInfo=socket=$sock
CredType=cred/munge
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
StateSaveLocation=$state/state
SlurmdSpoolDir=$state/spool
SlurmctldPidFile=$state/slurmctld.pid
SlurmdPidFile=$state/slurmd.pid
SlurmctldLogFile=$state/slurmctld.log
SlurmdLogFile=$state/slurmd.log
SlurmctldPort=16817
SlurmdPort=16818
ReturnToService=2
MpiDefault=none
NodeName=$host CPUs=$cpus State=UNKNOWN
PartitionName=local Nodes=ALL Default=YES MaxTime=INFINITE State=UP
CONF
	export SLURM_CONF=$state/slurm.conf
	slurmctld -f "$SLURM_CONF" || die "slurmctld did not start: $(tail -5 "$state/slurmctld.log" 2>/dev/null)"
	slurmd -f "$SLURM_CONF" || die "slurmd did not start: $(tail -5 "$state/slurmd.log" 2>/dev/null)"
	local i
	for i in $(seq 1 60); do
		if sinfo -h -o '%t' 2>/dev/null | grep -qE '^(idle|mix|alloc)'; then
			echo "export SLURM_CONF=$SLURM_CONF"
			return 0
		fi
		sleep 1
	done
	echo "slurm-cluster: the node did not become idle within 60 s; sinfo says: $(sinfo 2>&1 | tail -2)" >&2
	echo "slurmctld.log: $(tail -5 "$state/slurmctld.log" 2>/dev/null)" >&2
	echo "slurmd.log: $(tail -5 "$state/slurmd.log" 2>/dev/null)" >&2
	stop "$state"
	exit 1
}

stop() {
	local state=$1 f pid
	for f in "$state/slurmd.pid" "$state/slurmctld.pid" "$state/munge/munged.pid"; do
		[ -f "$f" ] || continue
		pid=$(cat "$f")
		if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
			kill "$pid" 2>/dev/null || true
			for _ in $(seq 1 20); do
				kill -0 "$pid" 2>/dev/null || break
				sleep 0.5
			done
			kill -9 "$pid" 2>/dev/null || true
		fi
		rm -f "$f"
	done
}

case "${1:-}" in
start) [ $# -eq 2 ] || die "usage: $0 start STATE"; start "$2" ;;
stop) [ $# -eq 2 ] || die "usage: $0 stop STATE"; stop "$2" ;;
*) die "usage: $0 start|stop STATE" ;;
esac
