#!/usr/bin/env bash
# Start the mini SLURM cluster: munge, MariaDB, slurmdbd, slurmctld and slurmd n1..n3,
# all on 127.0.0.1 with private ports and a private state directory. Run as root.
#
#   eval "$(cluster_tests/minislurm/up.sh | tail -1)"   # sets SLURM_CONF
#
# Idempotent: if this state directory's cluster is already up and healthy it changes
# nothing. Progress goes to stderr; the only line on stdout is `export SLURM_CONF=...`.
# See lib.sh for the environment variables and docs/minicluster.md for the settings.
set -euo pipefail
HERE=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$HERE/lib.sh"

if [[ $EUID -ne 0 ]]; then
    ms_say "run me as root (sudo $0): the daemons run as root, munge and mysql"
    exit 1
fi

export SLURM_CONF=$MS_CONF
START=$SECONDS

print_export() {
    printf 'export SLURM_CONF=%q\n' "$MS_CONF"
}

# Where the daemon's own log says why it failed.
show_log() {
    local f
    for f in "$@"; do
        [[ -s $f ]] || continue
        echo "----- last lines of $f" >&2
        tail -n 25 "$f" >&2
    done
}

fail() {
    ms_say "FAILED: $1"
    shift
    show_log "$@"
    exit 1
}

all_daemons_alive() {
    local _ pidfile
    while read -r _ pidfile; do
        ms_is_ours "$(ms_pid_from "$pidfile")" || return 1
    done < <(ms_daemons)
}

# "n1 idle" lines for the nodes that answer; nodes that do not answer carry a '*'.
node_states() {
    # Each node appears once per partition: keep one line per node.
    timeout 10 sinfo --noheader --Node --responding --format='%N %t' | sort -u
}

# All three nodes answer and take jobs: idle, or busy (a healthy cluster may run jobs, and
# a restarted one may run jobs it recovered from its state directory), not down or drained.
nodes_usable() {
    [[ $(node_states | grep -cE '^n[1-3] (idle|mix|alloc|comp)$') -eq 3 ]]
}

healthy() {
    all_daemons_alive || return 1
    [[ $MS_ROLE == all ]] || return 0
    timeout 10 scontrol ping 2>/dev/null | grep -q 'is UP' || return 1
    nodes_usable
}

# ---------------------------------------------------------------- configuration files

# Write slurm.conf, plugstack.conf and slurmdbd.conf into directory $1.
write_configs() {
    local out=$1 node nodes_lines=""
    for node in $MS_ALL_NODES; do
        if [[ $MS_ROLE == all ]]; then
            nodes_lines+="NodeName=$node NodeHostname=localhost NodeAddr=127.0.0.1"
        else
            nodes_lines+="NodeName=$node NodeHostname=$node NodeAddr=$node"
        fi
        nodes_lines+=" Port=$(ms_node_port "$node") CPUs=2 RealMemory=4000 State=UNKNOWN"$'\n'
    done
    local ctld_host=$MS_CTLD_HOST
    [[ $MS_ROLE == all ]] && ctld_host="$MS_CTLD_HOST($MS_CTLD_ADDR)"

    cat >"$out/slurm.conf" <<EOF
# Written by cluster_tests/minislurm/up.sh; edit that script, not this file.
ClusterName=$MS_CLUSTER
SlurmctldHost=$ctld_host
SlurmctldPort=$MS_CTLD_PORT
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
# cred_expire=10: a requeued job may start again after ~20 s instead of ~2 minutes.
AuthInfo=cred_expire=10,socket=$MS_MUNGE_SOCKET
StateSaveLocation=$MS_DIR/state/slurmctld
SlurmdSpoolDir=$MS_DIR/spool/slurmd-%n
SlurmctldPidFile=$MS_RUN/slurmctld.pid
SlurmdPidFile=$MS_RUN/slurmd-%n.pid
SlurmctldLogFile=$MS_LOG/slurmctld.log
SlurmdLogFile=$MS_LOG/slurmd-%n.log
SlurmctldDebug=info
SlurmdDebug=info
MailProg=/bin/true
MpiDefault=none
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
# Nodes report the CPUs and memory configured here, whatever the host has.
SlurmdParameters=config_overrides
ReturnToService=2
SlurmdTimeout=60
InactiveLimit=0
KillWait=5
Waittime=0
JobRequeue=1
KillOnBadExit=1
# Finished jobs stay in squeue/scontrol for 10 minutes.
MinJobAge=600
# Deliberately small: hpcflow must split large stages into several arrays.
MaxArraySize=101
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
# Without a default, a job that asks for no memory takes a whole node.
DefMemPerCPU=500
SchedulerType=sched/backfill
# Start jobs at once (about 10 per second here). sched_interval=2: the periodic full pass,
# which starts requeued jobs once their requeue delay is over, runs every 2 s, not 60 s.
SchedulerParameters=sched_min_interval=0,bf_interval=1,default_queue_depth=1000,batch_sched_delay=0,sched_interval=2
PreemptType=preempt/partition_prio
PreemptMode=REQUEUE
SlurmctldParameters=preempt_send_user_signal
# Kill a task whose resident memory exceeds its --mem (no cgroups needed).
JobAcctGatherType=jobacct_gather/linux
JobAcctGatherParams=OverMemoryKill
JobAcctGatherFrequency=task=1
AccountingStorageType=accounting_storage/slurmdbd
AccountingStorageHost=$MS_DBD_ADDR
AccountingStoragePort=$MS_DBD_PORT
# With slurmdbd this "password" is the munge socket to use for talking to it.
AccountingStoragePass=$MS_MUNGE_SOCKET
JobCompType=jobcomp/none
# PBS_* variables in jobs, for qsub scripts (Debian package slurm-wlm-torque).
PlugStackConfig=$MS_DIR/etc/plugstack.conf

${nodes_lines}PartitionName=debug Nodes=n[1-3] Default=YES MaxTime=INFINITE State=UP PriorityTier=1 PreemptMode=REQUEUE GraceTime=5
PartitionName=urgent Nodes=n[1-3] Default=NO MaxTime=INFINITE State=UP PriorityTier=2 PreemptMode=OFF
EOF

    local spank
    spank=$(compgen -G '/usr/lib/*/slurm-wlm/spank_pbs.so' | head -n 1) ||
        fail "spank_pbs.so not found: is slurm-wlm-torque installed?"
    echo "optional $spank" >"$out/plugstack.conf"

    # slurmdbd finds its configuration next to SLURM_CONF; it must be private to root.
    (
        umask 077
        cat >"$out/slurmdbd.conf" <<EOF
AuthType=auth/munge
AuthInfo=socket=$MS_MUNGE_SOCKET
DbdHost=localhost
DbdAddr=$MS_DBD_ADDR
DbdPort=$MS_DBD_PORT
SlurmUser=root
PidFile=$MS_RUN/slurmdbd.pid
LogFile=$MS_LOG/slurmdbd.log
DebugLevel=info
StorageType=accounting_storage/mysql
# 127.0.0.1, not localhost: with localhost the client library uses its default socket.
StorageHost=127.0.0.1
StoragePort=$MS_DB_PORT
StorageUser=slurm
StoragePass=minislurm
StorageLoc=slurm_acct_db
EOF
    )
}

# --------------------------------------------------------------------------- daemons

# Start a daemon with this cluster's mark in its environment.
launch() {
    env "$MS_MARK" "$@" 9>&- # without the lock's descriptor: it must end with up.sh
}

start_munge() {
    install -d -o munge -g munge -m 0755 "$MS_MUNGE_DIR"
    local key=$MS_MUNGE_DIR/munge.key
    if [[ $MS_ROLE != all ]]; then
        # Containers share one key through HPCFLOW_MINISLURM_SHARED; the db role makes it.
        local shared=${HPCFLOW_MINISLURM_SHARED:?set HPCFLOW_MINISLURM_SHARED for role $MS_ROLE}
        if [[ $MS_ROLE == db && ! -s $shared/munge.key ]]; then
            mungekey --create --keyfile="$shared/munge.key.tmp" &&
                mv -f "$shared/munge.key.tmp" "$shared/munge.key"
        fi
        ms_wait_for "the shared munge key $shared/munge.key" 120 test -s "$shared/munge.key" ||
            exit 1
        install -o munge -g munge -m 0400 "$shared/munge.key" "$key"
    elif [[ ! -s $key ]]; then
        mungekey --create --keyfile="$key"
        chown munge:munge "$key"
        chmod 0400 "$key"
    fi
    rm -f "$MS_MUNGE_SOCKET" "$MS_MUNGE_SOCKET.lock"
    launch runuser -u munge -- munged --socket="$MS_MUNGE_SOCKET" --key-file="$key" \
        --pid-file="$MS_MUNGE_DIR/munged.pid" --log-file="$MS_MUNGE_DIR/munged.log" \
        --seed-file="$MS_MUNGE_DIR/munged.seed" ||
        fail "munged did not start" "$MS_MUNGE_DIR/munged.log"
    ms_wait_for munge 10 munge --socket="$MS_MUNGE_SOCKET" --string=ping ||
        fail "munge does not answer" "$MS_MUNGE_DIR/munged.log"
}

mariadb_pid=
mariadb_alive() { ms_is_ours "$mariadb_pid"; }
slurmdbd_alive() { ms_daemon_alive "$MS_RUN/slurmdbd.pid" slurmdbd; }
slurmctld_alive() { ms_daemon_alive "$MS_RUN/slurmctld.pid" slurmctld; }
slurmds_alive() {
    local node
    for node in $MS_NODES; do
        ms_daemon_alive "$MS_RUN/slurmd-$node.pid" slurmd -N "$node" || return 1
    done
}

# shellcheck disable=SC2120  # arguments are optional
db_sql() {
    mariadb --no-defaults --socket="$MS_DB_SOCKET" --user=root --batch "$@"
}

start_mariadb() {
    install -d -o mysql -g mysql -m 0755 "$MS_DB_DIR"
    local data=$MS_DB_DIR/data
    if [[ ! -d $data/mysql ]]; then
        rm -rf "$data"
        mariadb-install-db --no-defaults --user=mysql --datadir="$data" --skip-test-db \
            --auth-root-authentication-method=socket --skip-name-resolve \
            >"$MS_LOG/mariadb-install.log" 2>&1 ||
            fail "mariadb-install-db failed" "$MS_LOG/mariadb-install.log"
    fi
    rm -f "$MS_DB_SOCKET"
    # mariadbd does not daemonize itself: it runs in the background in a session of its
    # own (setsid), and $! is its pid (env and setsid exec it), so a mariadbd that dies
    # before it writes its pid file (its port taken, say) is noticed at once.
    # Durability settings are relaxed: this database only holds test accounting.
    env "$MS_MARK" setsid mariadbd --no-defaults --user=mysql --datadir="$data" \
        --socket="$MS_DB_SOCKET" --port="$MS_DB_PORT" --bind-address=127.0.0.1 \
        --pid-file="$MS_DB_DIR/mariadbd.pid" --log-error="$MS_DB_DIR/mariadbd.log" \
        --skip-name-resolve --skip-log-bin --innodb-buffer-pool-size=64M \
        --innodb-flush-log-at-trx-commit=0 --innodb-doublewrite=0 --innodb-lock-wait-timeout=900 \
        </dev/null >/dev/null 2>&1 9>&- &
    mariadb_pid=$!
    ms_wait_daemon MariaDB mariadb_alive 60 db_sql --execute='SELECT 1' ||
        fail "MariaDB did not start" "$MS_DB_DIR/mariadbd.log"
    ms_wait_for "MariaDB's pid file" 10 test -s "$MS_DB_DIR/mariadbd.pid" || exit 1
    db_sql <<'EOF' || fail "could not create the slurm database user" "$MS_DB_DIR/mariadbd.log"
CREATE USER IF NOT EXISTS 'slurm'@'127.0.0.1' IDENTIFIED BY 'minislurm';
CREATE DATABASE IF NOT EXISTS slurm_acct_db;
GRANT ALL ON slurm_acct_db.* TO 'slurm'@'127.0.0.1';
EOF
}

cluster_registered() {
    timeout 10 sacctmgr --noheader --parsable2 show cluster format=cluster |
        grep -qxF "$MS_CLUSTER"
}

start_slurmdbd() {
    launch slurmdbd || fail "slurmdbd did not start" "$MS_LOG/slurmdbd.log"
    ms_wait_daemon slurmdbd slurmdbd_alive 90 ms_tcp_open "$MS_DBD_ADDR" "$MS_DBD_PORT" ||
        fail "slurmdbd does not listen on port $MS_DBD_PORT" "$MS_LOG/slurmdbd.log"
    if ! cluster_registered; then
        # sacctmgr may hang after adding the cluster; slurmctld registers it anyway.
        timeout 20 sacctmgr --immediate add cluster "$MS_CLUSTER" >&2 ||
            ms_say "sacctmgr add cluster did not finish; slurmctld will register it"
    fi
}

start_slurmctld() {
    launch slurmctld || fail "slurmctld did not start" "$MS_LOG/slurmctld.log"
    ms_wait_daemon slurmctld slurmctld_alive 60 bash -c 'timeout 5 scontrol ping | grep -q "is UP"' ||
        fail "slurmctld does not answer" "$MS_LOG/slurmctld.log"
}

start_slurmds() {
    local node
    for node in $MS_NODES; do
        install -d -m 0755 "$MS_DIR/spool/slurmd-$node"
        launch slurmd -N "$node" || fail "slurmd $node did not start" "$MS_LOG/slurmd-$node.log"
    done
}

# ---------------------------------------------------------------------------- main

"$HERE/install.sh" || fail "installing the Debian packages failed"

# Unix socket paths (slurmd's per-step sockets are the longest) must stay under 108 bytes.
if ((${#MS_DIR} > 60)); then
    fail "HPCFLOW_MINISLURM_DIR=$MS_DIR is longer than 60 characters: socket paths would not fit"
fi
install -d -m 0755 "$MS_DIR" "$MS_DIR/etc" "$MS_RUN" "$MS_LOG" "$MS_DIR/state" "$MS_DIR/spool"
for user in munge mysql; do
    runuser -u "$user" -- test -x "$MS_DIR" ||
        fail "user $user cannot reach $MS_DIR: use a HPCFLOW_MINISLURM_DIR whose parent\
 directories all let others through (o+x), e.g. one under /tmp"
done
# One up.sh at a time per state directory (e.g. run_all.sh's and the pytest fixture's).
exec 9>"$MS_DIR/up.lock"
flock --timeout 300 9 || fail "another up.sh holds $MS_DIR/up.lock"

# Ports: forced by HPCFLOW_MINISLURM_PORT_BASE, else the block recorded here while this
# directory's cluster runs (it holds them) or while they are free, else a free block.
if [[ -z $MS_PORT_FORCED ]]; then
    if [[ -z $MS_PORT_BASE ]] || { [[ -z $(ms_marked_pids) ]] && ! ms_ports_free "$MS_PORT_BASE"; }; then
        [[ -n $MS_PORT_BASE ]] && ms_say "ports from $MS_PORT_BASE (recorded in $MS_PORT_FILE) are taken"
        base=$(ms_pick_port_base) ||
            fail "no block of 14 free ports from $MS_PORT_DEFAULT to 65000: set HPCFLOW_MINISLURM_PORT_BASE"
        ms_set_ports "$base"
        echo "$MS_PORT_BASE" >"$MS_PORT_FILE.tmp"
        mv -f "$MS_PORT_FILE.tmp" "$MS_PORT_FILE"
    fi
fi

rm -rf "$MS_DIR/etc/new"
install -d -m 0700 "$MS_DIR/etc/new"
write_configs "$MS_DIR/etc/new"

configs_unchanged() {
    local f
    for f in slurm.conf plugstack.conf slurmdbd.conf; do
        cmp -s "$MS_DIR/etc/new/$f" "$MS_DIR/etc/$f" || return 1
    done
}

if configs_unchanged && healthy; then
    rm -rf "$MS_DIR/etc/new"
    ms_say "already up ($MS_DIR), nothing to do"
    print_export
    exit 0
fi

if [[ -n $(ms_marked_pids) ]]; then
    ms_say "a partial or outdated cluster from $MS_DIR is running: stopping it first"
    "$HERE/down.sh" >&2
fi

ms_say "starting role '$MS_ROLE' in $MS_DIR, ports from $MS_PORT_BASE"
# None of our daemons runs now, so any pid file left here is from an earlier boot (a
# restarted machine, or a copied /tmp): it names a process that is gone, and would make
# the start-up checks report "died while starting" before the new daemon writes its own.
rm -f "$MS_MUNGE_DIR/munged.pid" "$MS_DB_DIR/mariadbd.pid" "$MS_RUN"/*.pid
mv -f "$MS_DIR/etc/new"/* "$MS_DIR/etc/"
rmdir "$MS_DIR/etc/new"

start_munge
if [[ $MS_ROLE == all || $MS_ROLE == db ]]; then
    start_mariadb
    start_slurmdbd
fi
if [[ $MS_ROLE == ctld ]]; then
    ms_wait_for slurmdbd 300 ms_tcp_open "$MS_DBD_ADDR" "$MS_DBD_PORT" || exit 1
fi
if [[ $MS_ROLE == all || $MS_ROLE == ctld ]]; then
    start_slurmctld
fi
if [[ $MS_ROLE == all || $MS_ROLE == node ]]; then
    start_slurmds
fi
if [[ $MS_ROLE == all ]]; then
    ms_wait_daemon "slurmd ($MS_NODES)" slurmds_alive 60 nodes_usable ||
        fail "nodes do not take jobs: $(node_states | tr '\n' ' ')" "$MS_LOG"/slurmd-n*.log \
            "$MS_LOG/slurmctld.log"
    cluster_registered || fail "slurmdbd does not know cluster $MS_CLUSTER" "$MS_LOG/slurmdbd.log"
fi
# Daemons write their pid files after they detach: give them a moment.
ms_wait_for "every daemon's pid file" 15 all_daemons_alive ||
    fail "a daemon died during start-up" "$MS_LOG"/*.log "$MS_DB_DIR/mariadbd.log"

ms_say "up in $((SECONDS - START)) s"
print_export
if [[ ${HPCFLOW_MINISLURM_FOREGROUND:-0} == 1 ]]; then
    # Container entry point: stay in the foreground while the daemons live; stop them on
    # SIGTERM (docker stop) so they shut down cleanly.
    trap '"$HERE/down.sh" >&2; exit 0' TERM INT
    while all_daemons_alive; do
        sleep 5 &
        wait $! || true
    done
    fail "a daemon died" "$MS_LOG"/*.log "$MS_DB_DIR/mariadbd.log"
fi
