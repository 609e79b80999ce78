#!/usr/bin/env bash
# Record the sacct output `SlurmScheduler.accounting` reads (hpcflow report), on the mini
# cluster (SLURM_CONF set, see README.txt). Writes sacct_accounting.txt and prints the ids.
set -euo pipefail
HERE=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)
WORK=$(mktemp -d /tmp/record-accounting-XXXX)
cat >"$WORK/mem.py" <<'PY'
import os, sys, time
i = int(os.environ["SLURM_ARRAY_TASK_ID"])
buf = bytearray((i + 1) * 50_000_000)  # 50, 100, 150 MB, every page touched
for k in range(0, len(buf), 4096):
    buf[k] = 1
t = time.time()
while time.time() - t < 2:  # busy: TotalCPU counts it
    pass
time.sleep(3)
sys.exit(1 if i == 2 else 0)
PY
# mem: 3 tasks, 1 CPU, 400M, 2 min; task 2 exits 1
mem=$(sbatch --parsable --array=0-2 --mem=400M --time=2 --output="$WORK/%A_%a.log" \
    --wrap="python3 $WORK/mem.py")
# timeout: 2 CPUs, --time=1, sleeps past it
timeout=$(sbatch --parsable --array=0-0 --cpus-per-task=2 --time=1 --output="$WORK/%A_%a.log" \
    --wrap="sleep 300")
# never ran: pending behind a failing dependency, then cancelled
held=$(sbatch --parsable --array=0-1 --dependency=afterok:"$mem" --kill-on-invalid-dep=no \
    --output="$WORK/%A_%a.log" --wrap=true)
sleep 15
scancel "$held"
while squeue --noheader --jobs="$mem,$timeout" | grep -q .; do sleep 5; done
sleep 5  # accounting lags the controller by a few seconds
sacct --parsable2 \
    --format=JobID,State,ExitCode,Submit,Start,End,ElapsedRaw,TotalCPU,MaxRSS,ReqMem,AllocCPUS,TimelimitRaw \
    --jobs="$mem,$timeout,$held" >"$HERE/sacct_accounting.txt"
echo "mem=$mem timeout=$timeout held=$held"
