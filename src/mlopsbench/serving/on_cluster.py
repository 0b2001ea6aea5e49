"""The vm and pod setups of the serving experiment: the edge's model server as a pod on the
cluster's edge node, reading the cluster's store through the cell's latency.

The latency is the upload experiment's (``store.on_cluster.cluster_latency``): the edge
node's netem where enabled, else the kernel-path delay on the store pod's interface where this
machine is the node, else a delay proxy pod in front of the store's Service that the edge (and,
in the pod setup, the publisher) reaches the store through. The new version is
published as the upload setup of the same name uploads: from this machine through the store's
outside address (vm), or from a pod on the core node (pod). The client asks from this machine
through the edge's Service. How an update is taken up is the cell's method's (``methods``).
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import time
from pathlib import Path
from typing import Callable

from ..cluster.kube import dns_name
from ..rawdirs import ServingCellDir
from ..records import ServingRequest, ServingUpdate
from ..store.latency import DelayProxy
from ..store.objectstore import Endpoint, client, ensure_bucket
from ..store.on_cluster import in_cluster_way
from .measure import MODEL, ServingSpec, measure
from .edge_pod import EdgeDeployment
from .methods import method
from .publishers import PodPublisher, StorePublisher

log = logging.getLogger(__name__)


def run_on_cluster(spec: ServingSpec, versions: list[Path], image: str, framework: str,
                   request_sink: Callable[[ServingRequest], None],
                   update_sink: Callable[[ServingUpdate], None]) -> None:
    target, store = spec.way.on_cluster()
    bucket = spec.way.bucket
    name = dns_name(f"mlb-serve-{spec.setup}-{spec.method}-{spec.latency_ms:g}ms-{int(time.time())}".replace(".", "-"))
    with in_cluster_way(target, store, spec.latency_ms, spec.way.window_bytes,
                        ServingCellDir(spec.way.out_dir).delay) as (emulation, in_cluster), \
            contextlib.ExitStack() as path:
        if spec.setup == "pod":
            publisher = path.enter_context(PodPublisher(target, store, f"{name}-publisher", in_cluster, bucket, MODEL,
                                                        spec.way.part_size, versions, spec.ready_timeout_s))
        else:
            publisher = StorePublisher(_from_here(path, store.vm_store(), spec, emulation), bucket, MODEL,
                                       spec.way.part_size)
        publisher.publish("v1", versions[0])
        way = method(spec.method)
        edge = path.enter_context(EdgeDeployment.for_cell(
            target, name, image, in_cluster, bucket, MODEL, store.credentials_secret, store.netem_node_selector,
            spec.poll_interval_s if way.updater else None, spec.ready_timeout_s))
        log.info("serving %s at the edge (%s), %s updates through %s", name, edge.url, spec.method, emulation)
        measure(spec, spec.parameters(emulation, framework), versions, edge.url, publisher.publish,
                lambda version: way.follow(edge, version, spec.update_timeout_s), request_sink, update_sink)


def _from_here(path: contextlib.ExitStack, outside: Endpoint, spec: ServingSpec, emulation: str):
    """A minio client for the store's outside address, through a delay proxy on this machine that
    adds the latency where no netem does (and only relays where it does, as the upload's vm setup)."""
    ensure_bucket(outside, spec.way.bucket)
    rtt = spec.latency_ms if emulation == "proxy" else 0.0
    host, port = path.enter_context(DelayProxy((outside.host, outside.port), "127.0.0.1", rtt,
                                               spec.way.window_bytes))
    return client(dataclasses.replace(outside, host=host, port=port))
