#!/usr/bin/env bash
# Show which daemons of the mini cluster are alive and, if slurmctld answers, its nodes
# and partitions. Exits 0 only if every daemon of this role is alive.
set -euo pipefail
HERE=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$HERE/lib.sh"
export SLURM_CONF=$MS_CONF

echo "state directory: $MS_DIR (role $MS_ROLE, ports from ${MS_PORT_BASE:-none chosen yet})"
echo "export SLURM_CONF=$MS_CONF"
dead=0
while read -r name pidfile; do
    pid=$(ms_pid_from "$pidfile" || true)
    if ms_is_ours "$pid"; then
        printf '  %-10s running  pid %s\n' "$name" "$pid"
    else
        printf '  %-10s stopped\n' "$name"
        dead=1
    fi
done < <(ms_daemons)

if [[ -r $MS_CONF ]] && timeout 5 scontrol ping 2>/dev/null | grep -q 'is UP'; then
    echo
    timeout 10 sinfo --Node --format='%N %P %t %c %m %E' || true
    echo
    timeout 10 squeue --format='%.12i %.9P %.12j %.8T %.10M %R' || true
else
    echo "slurmctld does not answer"
fi
exit "$dead"
