#!/bin/bash
# Record the SLURM command outputs that tests/schedulers/test_slurm.py parses.
#
# Run against the mini cluster (docs/minicluster.md), with SLURM_CONF exported:
#     eval "$(bash cluster_tests/minislurm/up.sh | tail -1)"
#     bash tests/data/slurm/record.sh [OUT_DIR]     # default: this folder
# It submits a few small arrays (logs in a temporary folder), cancels only its own jobs,
# and takes about two minutes, most of it waiting for the time-limit kill.
set -euo pipefail
: "${SLURM_CONF:?export SLURM_CONF first}"
OUT=$(realpath "${1:-$(dirname "$0")}")
WORK=$(mktemp -d)
JOBS=()
trap 'if ((${#JOBS[@]})); then scancel "${JOBS[@]}"; fi; rm -rf "$WORK"' EXIT
cd "$WORK"

sub() {  # sub ARGS... : submit, remember the id, print it
    local id
    id=$(sbatch --parsable --output="$WORK/%A_%a.log" "$@")
    JOBS+=("$id")
    echo "$id"
}
wait_gone() {  # wait until none of the jobs is pending or running
    while [[ -n "$(squeue --noheader --format=%i --jobs="$1")" ]]; do sleep 1; done
}
SQUEUE=(squeue --noheader --array '--format=%i|%T|%r')
SQUEUE_COMPACT=(squeue --noheader '--format=%i|%T|%r')
SACCT=(sacct --allocations --parsable2 --format=JobID,State,ExitCode)

# --- configuration and submission outputs
scontrol show config > "$OUT/scontrol_show_config.txt"
sub --array=0-0 --wrap=true > "$OUT/sbatch_parsable.txt"
sbatch --parsable --partition=nosuchpartition --wrap=true \
    > /dev/null 2> "$OUT/sbatch_bad_partition.stderr.txt" || true
squeue --noheader --array --format='%i|%T|%r' --jobs=999999999 \
    > /dev/null 2> "$OUT/squeue_unknown_job.stderr.txt" || true
# sacct on a copy of the configuration without accounting (client side only).
sed 's/^AccountingStorageType=.*/AccountingStorageType=accounting_storage\/none/' \
    "$SLURM_CONF" > "$WORK/noacct.conf"
SLURM_CONF="$WORK/noacct.conf" "${SACCT[@]}" --jobs=1 \
    > /dev/null 2> "$OUT/sacct_disabled.stderr.txt" || true

# --- live: running tasks, a pending array held by a dependency, a throttled array
running=$(sub --array=0-3 --wrap='sleep 60')
held=$(sub --array=0-99 --dependency=afterok:"$running" --wrap=true)
throttled=$(sub --array=0-9%2 --wrap='sleep 60')
sleep 3
live="$running,$held,$throttled"
"${SQUEUE[@]}" --jobs="$live" > "$OUT/squeue_live.txt"
"${SQUEUE_COMPACT[@]}" --jobs="$live" > "$OUT/squeue_live_compact.txt"
"${SACCT[@]}" --jobs="$live" > "$OUT/sacct_live.txt"
scancel "$running" "$held" "$throttled"

# --- finished: completed, failed, dependencies never satisfied, cancelled, memory, time
ok=$(sub --array=0-2 --wrap=true)
fails=$(sub --array=0-1 --wrap='sleep 2; exit $SLURM_ARRAY_TASK_ID')
aligned=$(sub --array=0-1 --dependency=aftercorr:"$fails" --kill-on-invalid-dep=yes --wrap=true)
whole=$(sub --array=0-1 --dependency=afterok:"$fails" --kill-on-invalid-dep=yes --wrap=true)
never=$(sub --array=0-1 --dependency=afterok:"$fails" --kill-on-invalid-dep=no --wrap=true)
memory=$(sub --array=0-0 --mem=100M \
    --wrap="python3 -c 'b = bytearray(600 * 2**20); import time; time.sleep(5)'")
timeout=$(sub --array=0-0 --time=1 --wrap='sleep 300')
cancelled=$(sub --array=0-3%1 --wrap='sleep 60')
wait_gone "$ok,$fails,$aligned,$whole,$memory"
sleep 2
"${SQUEUE[@]}" --jobs="$never" > "$OUT/squeue_never_satisfied.txt"
scancel "$never" "$cancelled"
wait_gone "$never,$cancelled,$timeout"
sleep 3  # let slurmdbd catch up
all="$ok,$fails,$aligned,$whole,$never,$memory,$timeout,$cancelled"
"${SACCT[@]}" --jobs="$all" > "$OUT/sacct_finished.txt"
# the same jobs a moment after they finished: nothing left in the queue
"${SQUEUE[@]}" --jobs="$all" > "$OUT/squeue_finished.txt"
cat > "$OUT/jobs.txt" <<JOBS
# job ids of the scenarios in sacct_finished.txt
ok=$ok fails=$fails aligned=$aligned whole=$whole never=$never memory=$memory
timeout=$timeout cancelled=$cancelled
# job ids of the scenarios in squeue_live*.txt and sacct_live.txt
running=$running held=$held throttled=$throttled
JOBS
echo "recorded into $OUT with $(sbatch --version)"
