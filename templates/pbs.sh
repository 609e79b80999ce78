#!/bin/bash
# hpcflow job script for PBS Pro / OpenPBS (scheduler="pbs"), made from a template a site may
# copy and adapt (docs/pbs.md). In the template, $${...} names are filled in by hpcflow
# and a shell variable is written with a doubled dollar sign.
${directives}

cd ${workdir} || exit 1
# Each task appends to its own log as it runs: PBS copies a job's own output file only
# when the job ends, and replaces it when the job is rerun.
exec >>${log} 2>&1 || exit 1

${setup}

${command}
