# shellcheck shell=bash disable=SC2034  # the variables are used by the sourcing scripts
# Settings and helpers shared by up.sh, down.sh and status.sh. Sourced, never run.
#
# Every path and port of one mini cluster derives from two variables, so two clusters
# with different HPCFLOW_MINISLURM_DIR and HPCFLOW_MINISLURM_PORT_BASE never collide:
#
#   HPCFLOW_MINISLURM_DIR        state directory (default /tmp/hpcflow-minislurm)
#   HPCFLOW_MINISLURM_PORT_BASE  first of the ports used (default 16800):
#                                +0 slurmctld, +1 slurmdbd, +2 MariaDB, +11..+13 slurmd n1..n3
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
MS_PORT_BASE=${HPCFLOW_MINISLURM_PORT_BASE:-16800}
MS_ROLE=${HPCFLOW_MINISLURM_ROLE:-all}
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

case $MS_PORT_BASE in
    '' | *[!0-9]*)
        echo "minislurm: HPCFLOW_MINISLURM_PORT_BASE=$MS_PORT_BASE is not a port number" >&2
        exit 2
        ;;
esac
MS_PORT_BASE=$((10#$MS_PORT_BASE))
if ((MS_PORT_BASE < 1024 || MS_PORT_BASE > 65000)); then
    echo "minislurm: HPCFLOW_MINISLURM_PORT_BASE=$MS_PORT_BASE: use a port from 1024 to 65000" >&2
    exit 2
fi
MS_CTLD_PORT=$((MS_PORT_BASE + 0))
MS_DBD_PORT=$((MS_PORT_BASE + 1))
MS_DB_PORT=$((MS_PORT_BASE + 2))

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

# Like ms_wait_for, but give up at once if the daemon whose pid file is PIDFILE dies.
ms_wait_daemon() {
    local what=$1 pidfile=$2 timeout=$3
    shift 3
    local deadline=$((SECONDS + timeout))
    until "$@" >/dev/null 2>&1; do
        if [[ -s $pidfile ]] && ! ms_is_ours "$(ms_pid_from "$pidfile")"; then
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
