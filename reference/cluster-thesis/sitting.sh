#!/usr/bin/env bash
# One sitting of this reference run, as every sitting was run:
#   bash reference/cluster-thesis/sitting.sh COMMIT WORKDIR [TARGET ...]
# With PART=topology it measures the design in topology/config.yaml (the uploads and serving again on
# the thesis's core and edge nodes), its raw exports under topology/.
# TARGETs (Snakemake's, e.g. serving_tidy) measure only what they need: where the datasets and
# models are not in WORKDIR yet, building them would make Snakemake redo every run that reads them.
# The measuring code is a clone of this repository checked out at COMMIT (WORKDIR/code), so
# later changes to the package never touch a run in progress and never make Snakemake redo a
# finished one. The study lives in WORKDIR/study, with synthetic data in the published format
# (the real file cannot be downloaded where this ran). Runs and cells already shipped in this
# folder are copied in first, so a sitting on a fresh machine continues where the last one
# stopped. Each sitting appends a line (commit, start, end, machine) to this folder's
# sittings.txt. Stop a sitting after any finished run with Ctrl-C, or, where it runs in the background (which
# ignores SIGINT), with SIGTERM to its snakemake; then `mlopsbench reference
# collect --study WORKDIR/study` copies what finished into this folder.
set -euo pipefail
commit=${1:?the commit of the measuring code}
workdir=$(realpath -m "${2:?a working directory outside the repository}")
targets=("${@:3}")
here=$(cd "$(dirname "$0")" && pwd)
repo=$(git -C "$here" rev-parse --show-toplevel)
part=${PART:-}
design=reference/cluster-thesis/${part:+$part/}config.yaml   # in the measuring code's clone
mkdir -p "$workdir"
cd "$workdir"
[ -d code ] || git clone -q "$repo" code
git -C code fetch -q "$repo" && git -C code checkout -q "$commit"
export PYTHONPATH="$workdir/code/src"
PATH="$repo/.venv/bin:$PATH"   # install.sh's environment
export PATH
python -c "import mlopsbench, sys; sys.exit(not mlopsbench.__file__.startswith('$workdir/code/'))"
mkdir -p study/results
[ -d "$here/${part:+$part/}results/raw" ] && cp -rn "$here/${part:+$part/}results/raw" study/results/
raw=study/data/raw/intel_lab/data.txt.gz
[ -f "$raw" ] || mlopsbench sample-data --output "$raw" --lines 1560000 --seed 54
# A sitting whose machine was reclaimed leaves Snakemake's lock behind; only this script runs here.
pgrep -f "snakemake --snakefile ../code/Snakefile" >/dev/null || (cd study && snakemake --snakefile ../code/Snakefile \
    --configfile "../code/$design" --cores 1 --unlock >/dev/null 2>&1)
n=$(( $(grep -c " start " "$here/sittings.txt" 2>/dev/null || true) + 1 ))
machine="$(hostname) cores $(nproc) memory $(awk '/MemTotal/ {print $2 " kB"}' /proc/meminfo) kernel $(uname -r) python $(python -c 'import sys; print(" ".join(sys.version.split()))')"
echo "sitting $n${part:+ part $part} commit $(git -C code rev-parse HEAD)${targets[*]:+ targets ${targets[*]}} start $(date -u +%FT%TZ) on $machine" >> "$here/sittings.txt"
rc=0
(cd study && snakemake "${targets[@]}" --snakefile ../code/Snakefile --configfile "../code/$design" \
    --cores "$(nproc)" --rerun-triggers params input software-env code --rerun-incomplete --keep-going) \
    > "sitting-$n.log" 2>&1 || rc=$?
echo "sitting $n end $(date -u +%FT%TZ) rc $rc" >> "$here/sittings.txt"
