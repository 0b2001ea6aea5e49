"""A volume provisioner for the cluster's nodes: a ``local`` PersistentVolume per claim.

kubelet applies a pod's ``fsGroup`` to ``local`` volumes (not to ``hostPath`` ones), so
the unprivileged pipeline steps can write into them. For every pending claim of the
StorageClass ``mlopsbench-local`` this makes a directory and a volume bound to the claim
and pinned to one node: the only one, or, where there are several (binding waits for the
first pod), the node the scheduler placed that pod on; when a claim is deleted, its released
volume and directory go. It runs as one of the cluster's daemons
(``python -m mlopsbench.cluster.provisioner``); every node shares this machine's disk.
"""

from __future__ import annotations

import argparse
import logging
import shutil
import time
from pathlib import Path

STORAGE_CLASS = "mlopsbench-local"
PROVISIONER = "mlopsbench.io/local"
SELECTED_NODE = "volume.kubernetes.io/selected-node"

log = logging.getLogger("mlopsbench.cluster.provisioner")


def storage_class(several_nodes: bool) -> dict:
    """The cluster's default StorageClass, served by this provisioner. With one node a claim is
    bound at once; with several, once its first pod is placed, so that the volume follows it."""
    return {"apiVersion": "storage.k8s.io/v1", "kind": "StorageClass",
            "metadata": {"name": STORAGE_CLASS,
                         "annotations": {"storageclass.kubernetes.io/is-default-class": "true"}},
            "provisioner": PROVISIONER, "reclaimPolicy": "Delete",
            "volumeBindingMode": "WaitForFirstConsumer" if several_nodes else "Immediate"}


def volume(claim, node: str, path: Path) -> dict:
    return {"apiVersion": "v1", "kind": "PersistentVolume",
            "metadata": {"name": f"mlb-{claim.metadata.uid}",
                         "annotations": {"pv.kubernetes.io/provisioned-by": PROVISIONER}},
            "spec": {"capacity": {"storage": claim.spec.resources.requests["storage"]},
                     "accessModes": claim.spec.access_modes, "persistentVolumeReclaimPolicy": "Delete",
                     "storageClassName": STORAGE_CLASS, "volumeMode": "Filesystem", "local": {"path": str(path)},
                     "claimRef": {"namespace": claim.metadata.namespace, "name": claim.metadata.name,
                                  "uid": claim.metadata.uid},
                     "nodeAffinity": {"required": {"nodeSelectorTerms": [{"matchExpressions": [
                         {"key": "kubernetes.io/hostname", "operator": "In", "values": [node]}]}]}}}}


def claim_node(claim, nodes: list[str]) -> str | None:
    """The node a claim's volume goes to: the scheduler's choice, or the only node (None: not yet)."""
    chosen = (claim.metadata.annotations or {}).get(SELECTED_NODE)
    return chosen or (nodes[0] if len(nodes) == 1 else None)


def reconcile(core, root: Path) -> None:
    """One pass: provision pending claims of our class, reclaim released volumes of ours."""
    from kubernetes.client.rest import ApiException

    nodes = [n.metadata.name for n in core.list_node().items]
    for claim in core.list_persistent_volume_claim_for_all_namespaces().items:
        if claim.spec.storage_class_name != STORAGE_CLASS or claim.spec.volume_name or claim.status.phase != "Pending":
            continue
        node = claim_node(claim, nodes)
        if node is None:
            continue
        path = root / node / claim.metadata.uid
        path.mkdir(parents=True, exist_ok=True)
        try:
            core.create_persistent_volume(volume(claim, node, path))
            log.info("provisioned %s/%s at %s", claim.metadata.namespace, claim.metadata.name, path)
        except ApiException as exc:
            if exc.status != 409:  # 409: made in an earlier pass, not yet bound
                raise
    for pv in core.list_persistent_volume().items:
        ours = (pv.metadata.annotations or {}).get("pv.kubernetes.io/provisioned-by") == PROVISIONER
        if ours and pv.status.phase in ("Released", "Failed"):
            shutil.rmtree(pv.spec.local.path, ignore_errors=True)
            core.delete_persistent_volume(pv.metadata.name)
            log.info("reclaimed %s", pv.metadata.name)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kubeconfig", required=True)
    parser.add_argument("--root", required=True, help="directory that holds the volumes")
    parser.add_argument("--interval", type=float, default=0.5)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    from kubernetes import client, config

    core = client.CoreV1Api(config.new_client_from_config(config_file=args.kubeconfig))
    while True:
        try:
            reconcile(core, Path(args.root))
        except Exception as exc:  # the API server restarting: try again
            log.warning("pass failed: %s", exc)
        time.sleep(args.interval)


if __name__ == "__main__":
    raise SystemExit(main())
