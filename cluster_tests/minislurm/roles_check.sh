#!/usr/bin/env bash
# Check the container roles of up.sh (db, ctld, node) without Docker: run each "container"
# of docker/docker-compose.yml as up.sh in the foreground inside its own UTS and mount
# namespaces, with the compose host name and an /etc/hosts that maps db, ctld and n1..n3 to
# 127.0.0.1. All five start at once, as with `docker compose up`; then an array runs on the
# three nodes, sacct must show it, and SIGTERM (what `docker stop` sends) must stop each
# one cleanly. Run as root. Not part of CI; run it after changing the role code.
set -euo pipefail
HERE=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)

WORK=$(mktemp -d /tmp/minislurm-roles.XXXXXX)
PORT_BASE=${HPCFLOW_MINISLURM_PORT_BASE:-17800}
chmod 0755 "$WORK" # the munge and mysql users must reach their directories
mkdir -p "$WORK/shared"
echo "127.0.0.1 localhost db ctld n1 n2 n3" >"$WORK/hosts"

# name role nodes: start one "container", its up.sh in the foreground
container() {
    # shellcheck disable=SC2016  # expanded by the inner bash
    unshare --uts --mount bash -c '
        mount --bind "$0/hosts" /etc/hosts && hostname "$1" && exec "$2/up.sh"' \
        "$WORK" "$1" "$HERE" \
        </dev/null >"$WORK/$1.log" 2>&1 &
    echo $! >"$WORK/$1.pid"
}
names=(db ctld n1 n2 n3)
for name in "${names[@]}"; do
    case $name in
        db | ctld) role=$name nodes="" ;;
        *) role=node nodes=$name ;;
    esac
    HPCFLOW_MINISLURM_ROLE=$role HPCFLOW_MINISLURM_NODES=$nodes \
        HPCFLOW_MINISLURM_DIR=$WORK/$name HPCFLOW_MINISLURM_SHARED=$WORK/shared \
        HPCFLOW_MINISLURM_PORT_BASE=$PORT_BASE HPCFLOW_MINISLURM_FOREGROUND=1 \
        container "$name"
done

stop_all() {
    local name
    for name in "${names[@]}"; do
        kill -TERM "$(cat "$WORK/$name.pid")" 2>/dev/null || true
    done
    wait || true
}
trap stop_all EXIT

# The login node's view: the ctld container's slurm.conf and /etc/hosts.
client() {
    # shellcheck disable=SC2016  # expanded by the inner bash
    SLURM_CONF=$WORK/ctld/etc/slurm.conf unshare --mount bash -c \
        'mount --bind "$0/hosts" /etc/hosts && exec "$@"' "$WORK" "$@"
}

deadline=$((SECONDS + 120))
until [[ $(client sinfo --noheader --Node --responding --format='%N %t' 2>/dev/null |
    sort -u | grep -c ' idle$') -eq 3 ]]; do
    dead=0
    for name in "${names[@]}"; do
        kill -0 "$(cat "$WORK/$name.pid")" 2>/dev/null || dead=1
    done
    if ((SECONDS > deadline || dead)); then
        echo "roles_check: nodes did not come up; logs in $WORK" >&2
        tail -n 5 "$WORK"/*.log >&2
        exit 1
    fi
    sleep 1
done

job=$(client sbatch --parsable --array=0-5 --output="$WORK/out_%a" --wrap 'hostname')
deadline=$((SECONDS + 60))
until [[ $(client sacct --noheader --allocations --parsable2 --format=State --jobs="$job" |
    grep -c '^COMPLETED$') -eq 6 ]]; do
    if ((SECONDS > deadline)); then
        echo "roles_check: array $job did not complete; logs in $WORK" >&2
        exit 1
    fi
    sleep 1
done
echo "roles_check: array ran on $(sort -u "$WORK"/out_* | xargs)"

trap - EXIT
stop_all
for name in "${names[@]}"; do
    grep -q "minislurm: down" "$WORK/$name.log" || {
        echo "roles_check: $name did not stop cleanly; see $WORK/$name.log" >&2
        exit 1
    }
done
left=$(grep -lzF "HPCFLOW_MINISLURM_INSTANCE=$WORK/" /proc/[0-9]*/environ 2>/dev/null || true)
if [[ -n $left ]]; then
    echo "roles_check: processes left: $left" >&2
    exit 1
fi
rm -rf "$WORK"
echo "roles_check: OK"
