#!/usr/bin/env bash
# Stop the mini cluster that up.sh started from the same HPCFLOW_MINISLURM_DIR: cancel its
# jobs, stop its daemons by their pid files (SIGTERM, then SIGKILL after a timeout), then
# kill whatever those daemons left behind (slurmstepd). Leaves the state directory, so the
# next up.sh starts faster and keeps the accounting history; delete it to start afresh.
# Exits non-zero if a process of this cluster is still alive at the end.
set -euo pipefail
HERE=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$HERE/lib.sh"
export SLURM_CONF=$MS_CONF

GRACE=${HPCFLOW_MINISLURM_STOP_TIMEOUT:-20}

# Wait until none of the pids is alive; true if they all ended within the timeout.
wait_gone() {
    local timeout=$1 pid
    shift
    local deadline=$((SECONDS + timeout))
    for pid in "$@"; do
        while kill -0 "$pid" 2>/dev/null; do
            ((SECONDS < deadline)) || return 1
            sleep 0.2
        done
    done
}

declare -A PIDFILE
while read -r name pidfile; do
    PIDFILE[$name]=$pidfile
done < <(ms_daemons)

# Stop the named daemons together: SIGTERM, then SIGKILL those still alive after GRACE s.
stop_together() {
    local name pid pids=()
    for name in "$@"; do
        [[ -n ${PIDFILE[$name]:-} ]] || continue
        pid=$(ms_pid_from "${PIDFILE[$name]}" || true)
        if ms_is_ours "$pid"; then
            ms_say "stopping $name (pid $pid)"
            kill -TERM "$pid" 2>/dev/null || true
            pids+=("$pid")
        fi
    done
    ((${#pids[@]})) || return 0
    if ! wait_gone "$GRACE" "${pids[@]}"; then
        ms_say "still alive ${GRACE}s after SIGTERM, killing: $(ps -o pid=,comm= -p "${pids[*]}" | xargs)"
        kill -KILL "${pids[@]}" 2>/dev/null || true
        wait_gone 5 "${pids[@]}" || true
    fi
    for name in "$@"; do
        [[ -n ${PIDFILE[$name]:-} ]] && rm -f "${PIDFILE[$name]}"
    done
}

ctld_pid=$(ms_pid_from "$MS_RUN/slurmctld.pid" || true)
if ms_is_ours "$ctld_pid"; then
    # Cancel the jobs first, so their step daemons end their tasks the ordinary way.
    jobs=$(timeout 10 squeue --noheader --format=%A 2>/dev/null || true)
    if [[ -n $jobs ]]; then
        ms_say "cancelling $(wc -w <<<"$jobs") job(s)"
        # shellcheck disable=SC2086  # one id per word
        timeout 15 scancel $jobs 2>/dev/null || true
    fi
fi

# Stop in the reverse order of starting: nodes, controller, slurmdbd, then MariaDB and munge.
nodes=()
for node in $MS_NODES; do
    nodes+=("slurmd-$node")
done
stop_together "${nodes[@]}"
stop_together slurmctld
stop_together slurmdbd
stop_together mariadbd munged

# Step daemons and job processes forked by the slurmds carry the mark too.
mapfile -t rest < <(ms_marked_pids)
if ((${#rest[@]})); then
    ms_say "killing ${#rest[@]} leftover process(es): ${rest[*]}"
    kill -KILL "${rest[@]}" 2>/dev/null || true
    wait_gone 5 "${rest[@]}" || true
fi

mapfile -t rest < <(ms_marked_pids)
if ((${#rest[@]})); then
    ms_say "still alive: ${rest[*]}"
    exit 1
fi
ms_say "down ($MS_DIR)"
