#!/usr/bin/env bash
# Run the whole test suite: the fast tests in tests/, the doctests in hpcflow/ and, against a mini SLURM cluster
# started here, the tests in cluster_tests/. Arguments go to pytest. Run as root, from
# any directory, after `pip install -e ".[test]"`.
#
#   bash cluster_tests/run_all.sh            # everything
#   bash cluster_tests/run_all.sh -x -k sacct
#
# The cluster is always stopped at the end, also when the tests fail or are interrupted.
# Before the cluster starts, the documentation site is built with `mkdocs build --strict`
# (mkdocs.yml), so a broken link or a stale API name fails the run at once.
#
# It starts anywhere: without HPCFLOW_MINISLURM_PORT_BASE the cluster takes the first free
# block of ports from 16800 on (another cluster may hold the default ones), and a daemon
# that dies while starting fails the run at once with the end of its log.
#
# Exit status: pytest's; 4 with a message if the documentation site does not build; 3 if
# the cluster cannot start.
set -uo pipefail
HERE=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(dirname -- "$HERE")
MINISLURM=$HERE/minislurm

# The site goes to a temporary directory: the build is the check, the pages are not kept.
site_dir=$(mktemp -d /tmp/hpcflow-site-XXXXXX) || exit 1
echo "run_all: building the documentation site (mkdocs build --strict)" >&2
if ! NO_MKDOCS_2_WARNING=1 python -m mkdocs build --strict --quiet \
    --config-file "$ROOT/mkdocs.yml" --site-dir "$site_dir"; then
    rm -rf "$site_dir"
    echo "run_all: the documentation site does not build (mkdocs build --strict, see above):" \
        "fix the page, link or docstring it names; the tools come with" \
        "pip install -e \".[test]\" (the docs extra)" >&2
    exit 4
fi
rm -rf "$site_dir"

# A new state directory per run unless one is given: a directory left by an earlier run
# (or copied with /tmp onto a new machine) carries that run's queued jobs and pid files.
fresh_dir=
if [[ -z ${HPCFLOW_MINISLURM_DIR:-} ]]; then
    fresh_dir=$(mktemp -d /tmp/hpcflow-minislurm-XXXXXX) || exit 1
    chmod 0755 "$fresh_dir" # munge and mysql must reach it
    export HPCFLOW_MINISLURM_DIR=$fresh_dir
fi

stop_cluster() {
    local status=$?
    echo "run_all: stopping the mini cluster" >&2
    bash "$MINISLURM/down.sh" || echo "run_all: down.sh failed, see above" >&2
    if [[ -n $fresh_dir ]]; then
        if ((status == 0)); then
            rm -rf "$fresh_dir"
        else
            echo "run_all: the cluster's logs are kept in $fresh_dir/log" >&2
        fi
    fi
    exit "$status"
}
trap stop_cluster EXIT
# Bash runs a trap only after its foreground command ends: pytest runs in the background
# so that SIGINT/SIGTERM stop it (and then the cluster) at once.
pytest_pid=
interrupted() {
    # The whole process group: pytest and the worker processes tests may have forked.
    [[ -n $pytest_pid ]] && kill -TERM -- "-$pytest_pid" 2>/dev/null && wait "$pytest_pid"
    exit "$1"
}
trap 'interrupted 130' INT
trap 'interrupted 143' TERM

up_out=$(bash "$MINISLURM/up.sh")
up_status=$?
if ((up_status != 0)) || [[ $(tail -n 1 <<<"$up_out") != "export SLURM_CONF="* ]]; then
    echo "run_all: the mini SLURM cluster did not start (up.sh exit $up_status); see above" >&2
    exit 3
fi
eval "$(tail -n 1 <<<"$up_out")"
# up.sh chose free ports unless they were given; the tests' own up.sh (conftest.py) finds
# them recorded in the state directory, and tests that start a cluster of their own read
# this variable to stay off them.
if [[ -z ${HPCFLOW_MINISLURM_PORT_BASE:-} ]]; then
    HPCFLOW_MINISLURM_PORT_BASE=$(tr -dc '0-9' <"$HPCFLOW_MINISLURM_DIR/port_base")
    export HPCFLOW_MINISLURM_PORT_BASE
fi
echo "run_all: mini cluster up, SLURM_CONF=$SLURM_CONF, ports from $HPCFLOW_MINISLURM_PORT_BASE" >&2

cd "$ROOT" || exit 1
setsid python -m pytest tests hpcflow cluster_tests "$@" &
pytest_pid=$!
wait "$pytest_pid"
