"""The vm and pod setups of the serving experiment: the edge's model server as a pod on the
cluster's edge node, reading the cluster's store through the cell's latency.

The latency is the upload experiment's (``upload.setups._cluster.cluster_latency``): the edge
node's netem where enabled, else a delay proxy pod in front of the store's Service that the
edge (and, in the pod setup, the publisher) reaches the store through. The new version is
published as the upload setup of the same name uploads: from this machine through the store's
outside address (vm), or from a pod on the core node (pod). The client asks from this machine
through the edge's Service. Updates are in place (the updater in the edge pod) or rolled out
(a new pod per version).
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import time
from pathlib import Path
from typing import Callable

from ..cluster.kube import dns_name
from ..records import ServingRequest, ServingUpdate
from ..upload.latency import DelayProxy
from ..upload.objectstore import Endpoint, client, ensure_bucket
from ..upload.setups._cluster import cluster_latency, delay_proxy_service, options_of, service_address
from .cell import MODEL, ServingSpec, measure
from .publishers import PodPublisher, StorePublisher
from .rollout import EdgeDeployment

log = logging.getLogger(__name__)


def run_on_cluster(spec: ServingSpec, versions: list[Path], image: str, framework: str,
                   request_sink: Callable[[ServingRequest], None],
                   update_sink: Callable[[ServingUpdate], None]) -> None:
    target = options_of(spec.store)
    core, bucket = target.clients.core, spec.store.bucket
    store = service_address(core, target.namespace, target.upload.service_endpoint)
    name = dns_name(f"mlb-serve-{spec.setup}-{spec.method}-{spec.latency_ms:g}ms-{int(time.time())}".replace(".", "-"))
    with cluster_latency(spec.store) as emulation, contextlib.ExitStack() as path:
        in_cluster = store
        if emulation == "proxy":
            in_cluster = path.enter_context(delay_proxy_service(target, store, spec.latency_ms,
                                                                spec.store.window_bytes))
        if spec.setup == "pod":
            publisher = path.enter_context(PodPublisher(target, f"{name}-publisher", in_cluster, bucket, MODEL,
                                                        spec.store.part_size, versions, spec.ready_timeout_s))
        else:
            publisher = StorePublisher(_from_here(path, target.upload.vm_store(), spec, emulation), bucket, MODEL,
                                       spec.store.part_size)
        publisher.publish("v1", versions[0])
        edge = path.enter_context(EdgeDeployment.for_cell(
            target, name, image, in_cluster, bucket, MODEL, target.upload.credentials_secret,
            target.upload.netem_node_selector, spec.method,
            spec.poll_interval_s if spec.method == "in-place" else None, spec.ready_timeout_s))
        log.info("serving %s at the edge (%s), %s updates through %s", name, edge.url, spec.method, emulation)

        def follow(version: str) -> dict | None:
            if spec.method == "rollout":
                return edge.roll_out(version, spec.update_timeout_s)
            return edge.observed(spec.update_timeout_s)

        measure(spec, spec.parameters(emulation, framework), versions, edge.url, publisher.publish, follow,
                request_sink, update_sink)


def _from_here(path: contextlib.ExitStack, outside: Endpoint, spec: ServingSpec, emulation: str):
    """A minio client for the store's outside address, through a delay proxy on this machine that
    adds the latency where no netem does (and only relays where it does, as the upload's vm setup)."""
    ensure_bucket(outside, spec.store.bucket)
    rtt = spec.latency_ms if emulation == "proxy" else 0.0
    host, port = path.enter_context(DelayProxy((outside.host, outside.port), "127.0.0.1", rtt,
                                               spec.store.window_bytes))
    return client(dataclasses.replace(outside, host=host, port=port))
