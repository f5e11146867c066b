#!/bin/bash
# The retry storm's tipping-point sweep (README, "Sweeps") as a Slurm job array: task
# I of N runs `rewind sweep --shard I/N` into sweep-shards/I; a job that waits for the
# array joins the shards:
#
#   jobid=$(sbatch --parsable deploy/slurm-sweep.sh)
#   sbatch --dependency=afterok:$jobid --wrap \
#     'rewind merge sweep-shards/* --out output/retry-storm-sweep'
#
# Submit from a checkout of this repository (for incidents/) with `rewind` on the
# PATH. The array counts from 0, as --shard does; a task that is requeued resumes
# from the points it finished.
#SBATCH --job-name=rewind-sweep
#SBATCH --array=0-3
#SBATCH --cpus-per-task=8
#SBATCH --time=02:00:00
#SBATCH --output=rewind-sweep-%A_%a.out
set -euo pipefail

shards=${SLURM_ARRAY_TASK_COUNT:?submit with sbatch, as an array: --array=0-N}
rewind sweep incidents/retry-storm.yaml \
    --vary checkout-api.workers=17..22:1 \
    --vary timeline.spike-ends.at=10m15s,10m30s,11m,12m,13m,15m \
    --runs 2 \
    --duration 25m \
    --shard "${SLURM_ARRAY_TASK_ID}/${shards}" \
    --out "sweep-shards/${SLURM_ARRAY_TASK_ID}" \
    --quiet
