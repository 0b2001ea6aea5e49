#!/usr/bin/env bash
# Install everything the study and its tests need on Debian 12, as root:
#   bash install.sh
# 1. Debian packages (only those missing): make (the README's two commands), awk and zcat (the
#    thesis's filter), iproute2 (network namespaces),
#    poppler-utils (the tests read the PDF back), git, Prometheus (the third clock), and
#    for the local Kubernetes cluster: containerd, runc, the CNI plugins, iptables,
#    conntrack, debootstrap (the job image), gcc (the pause image, and netdelay: the kernel-path
#    delay), patch (a measurement variant of the kubelet) and docker-registry (the registry a
#    cluster reached through its kubeconfig alone pulls the images from). Go must be there already
#    (`go version`): it builds the cluster's binaries from the Go module proxy.
# 2. The project and its pinned dependencies (constraints.txt), in .venv, made from Debian's
#    python3.11: the job image installs the same build and version, so that a step runs on the
#    same interpreter as a process and in a pod (a cell's time depends on the interpreter: Keras's
#    per-batch loop is Python).
# 3. The cluster's binaries and images, cached outside the work tree (~/.cache/mlopsbench),
#    once per machine and version: about 16 minutes the first time on 2 cores, seconds afterwards.
set -euo pipefail
cd "$(dirname "$0")"
export DEBIAN_FRONTEND=noninteractive PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_ROOT_USER_ACTION=ignore

packages=(make mawk gzip iproute2 poppler-utils git prometheus containerd runc containernetworking-plugins
          iptables conntrack debootstrap gcc libc6-dev patch docker-registry python3.11 python3.11-venv)
# Only what is missing: a second run costs seconds.
missing=()
for package in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "ok installed" || missing+=("$package")
done
if [ ${#missing[@]} -gt 0 ]; then
    apt-get update -qq
    # python3.11 too, to the mirror's version: the job image gets that one.
    apt-get install -y -qq --no-install-recommends "${missing[@]}" python3.11 python3.11-venv >/dev/null
fi

[ -x .venv/bin/python ] || /usr/bin/python3.11 -m venv .venv
.venv/bin/python -m pip install -q -c constraints.txt -e '.[test]'
# The console scripts (mlopsbench, snakemake, dvc, weed) live beside the interpreter.
PATH="$PWD/.venv/bin:$PATH"

mlopsbench cluster build --repo .
