# shellcheck shell=bash disable=SC2034  # the variables are used by the sourcing scripts
# Settings and helpers shared by up.sh, down.sh and status.sh. Sourced, never run.
#
# Every path and port of one mini cluster derives from two variables, so two clusters
# with different HPCFLOW_MINISLURM_DIR and HPCFLOW_MINISLURM_PORT_BASE never collide:
#
#   HPCFLOW_MINISLURM_DIR        state directory (default /tmp/hpcflow-minislurm)
#   HPCFLOW_MINISLURM_PORT_BASE  first of the ports used:
#                                +0 slurmctld, +1 slurmdbd, +2 MariaDB, +11..+13 slurmd n1..n3.
#                                Unset: up.sh picks the first free block of 14 ports from
#                                16800 on (in steps of 20) and records it in
#                                $HPCFLOW_MINISLURM_DIR/port_base, which later runs reuse
#                                while that cluster runs or the block is free.
#
# The Docker setup (docker/) runs the same scripts with a role per container:
#
#   HPCFLOW_MINISLURM_ROLE       all (default: everything on 127.0.0.1) | db | ctld | node
#   HPCFLOW_MINISLURM_NODES      nodes a "node" container runs (default "n1 n2 n3")
#   HPCFLOW_MINISLURM_SHARED     directory shared by all containers, holding the munge key
#
# With a role other than "all" the hosts are the compose service names: the database and
# slurmdbd on "db", slurmctld on "ctld", node nK on host "nK".

MS_DIR=$(realpath -m -- "${HPCFLOW_MINISLURM_DIR:-/tmp/hpcflow-minislurm}")
MS_ROLE=${HPCFLOW_MINISLURM_ROLE:-all}
MS_PORT_FILE=$MS_DIR/port_base
MS_PORT_DEFAULT=16800
# Forced by the environment, else the block this state directory recorded, else none yet
# (up.sh chooses one). Containers (a role other than "all") have ports of their own.
MS_PORT_FORCED=${HPCFLOW_MINISLURM_PORT_BASE:+1}
if [[ -n $MS_PORT_FORCED ]]; then
    MS_PORT_BASE=$HPCFLOW_MINISLURM_PORT_BASE
elif [[ $MS_ROLE != all ]]; then
    MS_PORT_BASE=$MS_PORT_DEFAULT
else
    MS_PORT_BASE=$(tr -dc '0-9' 2>/dev/null <"$MS_PORT_FILE" || true)
fi
MS_NODES=${HPCFLOW_MINISLURM_NODES:-n1 n2 n3}
MS_ALL_NODES="n1 n2 n3"
MS_CLUSTER=hpcflow

MS_CONF=$MS_DIR/etc/slurm.conf
MS_RUN=$MS_DIR/run
MS_LOG=$MS_DIR/log
MS_MUNGE_DIR=$MS_DIR/munge
MS_MUNGE_SOCKET=$MS_MUNGE_DIR/munge.socket
MS_DB_DIR=$MS_DIR/mysql
MS_DB_SOCKET=$MS_DB_DIR/mysqld.sock

# Set MS_PORT_BASE and the ports derived from it; exit 2 naming the variable if BASE is
# not a port number from 1024 to 65000.
ms_set_ports() {
    case $1 in
        '' | *[!0-9]*)
            echo "minislurm: HPCFLOW_MINISLURM_PORT_BASE=$1 is not a port number" >&2
            exit 2
            ;;
    esac
    MS_PORT_BASE=$((10#$1))
    if ((MS_PORT_BASE < 1024 || MS_PORT_BASE > 65000)); then
        echo "minislurm: HPCFLOW_MINISLURM_PORT_BASE=$MS_PORT_BASE: use a port from 1024 to 65000" >&2
        exit 2
    fi
    MS_CTLD_PORT=$((MS_PORT_BASE + 0))
    MS_DBD_PORT=$((MS_PORT_BASE + 1))
    MS_DB_PORT=$((MS_PORT_BASE + 2))
}
if [[ -n $MS_PORT_FORCED || -n $MS_PORT_BASE ]]; then
    ms_set_ports "$MS_PORT_BASE"
fi

# True if every port of the block from BASE (+0..+13) can be bound now. A bind on
# 0.0.0.0 fails too when another process holds the port on 127.0.0.1 only.
ms_ports_free() {
    python3 - "$1" <<'EOF'
import socket
import sys

base = int(sys.argv[1])
for port in range(base, base + 14):
    with socket.socket() as sock:
        try:
            sock.bind(("0.0.0.0", port))
        except OSError:
            sys.exit(1)
EOF
}

# The first base from 16800 on, in steps of 20, whose 14 ports are all free; fails if none
# up to 65000 is. Two up.sh picking at the same moment may choose the same block: the
# second one's daemons then fail to bind, and up.sh reports their error at once.
ms_pick_port_base() {
    local base
    for ((base = MS_PORT_DEFAULT; base <= 65000 - 14; base += 20)); do
        if ms_ports_free "$base"; then
            echo "$base"
            return 0
        fi
    done
    return 1
}

# Every daemon up.sh starts carries this variable in its environment, and so does every
# slurmstepd those daemons fork. down.sh uses it to check that a pid from a pid file still
# belongs to this cluster, and to find step daemons left behind.
MS_MARK="HPCFLOW_MINISLURM_INSTANCE=$MS_DIR"

case $MS_ROLE in
    all)
        MS_CTLD_HOST=localhost MS_CTLD_ADDR=127.0.0.1 MS_DBD_ADDR=127.0.0.1
        ;;
    db | ctld | node)
        MS_CTLD_HOST=ctld MS_CTLD_ADDR=ctld MS_DBD_ADDR=db
        ;;
    *)
        echo "minislurm: HPCFLOW_MINISLURM_ROLE=$MS_ROLE is not one of: all db ctld node" >&2
        exit 2
        ;;
esac

ms_say() { echo "minislurm: $*" >&2; }

ms_node_port() { # n2 -> slurmd port of n2
    echo $((MS_PORT_BASE + 10 + ${1#n}))
}

# Daemons this role runs, as "name pidfile" lines, in start order.
ms_daemons() {
    local node
    echo "munged $MS_MUNGE_DIR/munged.pid"
    if [[ $MS_ROLE == all || $MS_ROLE == db ]]; then
        echo "mariadbd $MS_DB_DIR/mariadbd.pid"
        echo "slurmdbd $MS_RUN/slurmdbd.pid"
    fi
    if [[ $MS_ROLE == all || $MS_ROLE == ctld ]]; then
        echo "slurmctld $MS_RUN/slurmctld.pid"
    fi
    if [[ $MS_ROLE == all || $MS_ROLE == node ]]; then
        for node in $MS_NODES; do
            echo "slurmd-$node $MS_RUN/slurmd-$node.pid"
        done
    fi
}

# True if PID is alive and carries this cluster's mark (guards against reused pids).
ms_is_ours() {
    local pid=$1
    [[ -n $pid ]] && grep -qzxF -- "$MS_MARK" "/proc/$pid/environ" 2>/dev/null
}

ms_pid_from() { # pidfile -> pid, or nothing
    [[ -s $1 ]] && tr -dc '0-9' <"$1"
}

# Live processes of this cluster that no pid file names: slurmstepd and anything else
# forked by our daemons.
ms_marked_pids() {
    grep -lzxF -- "$MS_MARK" /proc/[0-9]*/environ 2>/dev/null |
        sed -e 's#^/proc/##' -e 's#/environ$##' | grep -vxF "$$" || true
}

# Run "$@" until it succeeds or TIMEOUT seconds pass.
ms_wait_for() {
    local what=$1 timeout=$2
    shift 2
    local deadline=$((SECONDS + timeout))
    until "$@" >/dev/null 2>&1; do
        if ((SECONDS >= deadline)); then
            ms_say "timed out after ${timeout}s waiting for $what"
            return 1
        fi
        sleep 0.2
    done
}

# Pids of this cluster's processes whose command line is exactly "$@".
ms_pids_running() {
    local pid want="$* " cmdline
    for pid in $(ms_marked_pids); do
        cmdline=$(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null) || continue
        [[ $cmdline == "$want" ]] && echo "$pid"
    done
    return 0
}

# True if a daemon of this cluster lives: the one its PIDFILE names once it wrote it, and
# before that (it may die before it writes one, e.g. when its port is taken) a process of
# this cluster running exactly COMMAND...: a daemon that forks itself away keeps its
# command line, and its parent ends only after the child exists.
ms_daemon_alive() {
    local pidfile=$1
    shift
    if [[ -s $pidfile ]]; then
        ms_is_ours "$(ms_pid_from "$pidfile")"
    else
        [[ -n $(ms_pids_running "$@") ]]
    fi
}

# Like ms_wait_for, but give up at once if the command ALIVE (one word: a function) fails,
# i.e. the daemon being waited for died: waiting out the timeout would only hide its error.
ms_wait_daemon() {
    local what=$1 alive=$2 timeout=$3
    shift 3
    local deadline=$((SECONDS + timeout))
    until "$@" >/dev/null 2>&1; do
        # Dead at two checks in a row: one scan of /proc can miss a daemon that forks
        # itself away (the child started after the scan began, the parent ended before
        # the scan read it).
        if ! "$alive" && sleep 0.2 && ! "$alive"; then
            ms_say "$what died while starting"
            return 1
        fi
        if ((SECONDS >= deadline)); then
            ms_say "timed out after ${timeout}s waiting for $what"
            return 1
        fi
        sleep 0.2
    done
}

ms_tcp_open() { # host port
    (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null
}
