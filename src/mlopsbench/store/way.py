"""One way to an object store: where the client stands, the latency on the way, the store.

``StoreWay`` is what the upload and serving experiments share of a cell: the setup the client
stands in (host, netns, vm, pod), the added round-trip time, the store (a configured endpoint,
an embedded SeaweedFS under the cell's directory, or the cluster's), and how objects travel
(multipart part size, the delay proxy's window). ``opened`` gives the store for a block.
"""

from __future__ import annotations

import contextlib
import functools
from dataclasses import dataclass, field
from pathlib import Path

from ..config import default
from ..errors import InputError
from .netns import namespaces_supported
from .objectstore import Endpoint, SeaweedFS, StoreError, ensure_bucket

MIB = 1 << 20


@dataclass(frozen=True, kw_only=True)
class StoreWay:
    setup: str                  # where the client stands: host, netns, vm or pod
    latency_ms: float           # added round-trip time, as the thesis's netem delay
    out_dir: Path               # the cell's directory: an embedded store keeps its data and log there
    study: str = field(default_factory=lambda: default("study"))
    part_size: int = field(default_factory=lambda: default("upload.part_size_mib") * MIB)
    window_bytes: int = field(default_factory=lambda: default("upload.proxy_window_kib") * 1024)
    bucket: str = field(default_factory=lambda: default("upload.store.bucket"))
    endpoint: Endpoint | None = None  # None: an embedded SeaweedFS
    cluster: object | None = None     # a setup on a cluster: its cluster.target.ClusterTarget
    cluster_store: object | None = None   # ...and the store there: an on_cluster.ClusterStore

    @property
    def store_kind(self) -> str:
        return "external" if self.endpoint is not None else "seaweedfs"

    @functools.cached_property
    def embedded_store_path(self) -> str:
        """How the embedded store is reached: "veth", into a namespace of its own where namespaces can
        be made (its internal ports then reach no one else), else "loopback"."""
        return "veth" if namespaces_supported()[0] else "loopback"

    def on_cluster(self):
        """(cluster, its store) of a setup that runs against a cluster, or an error that says what is missing."""
        if self.cluster is None:
            raise InputError(f"setup {self.setup} runs on a cluster: give --cluster-config")
        if self.cluster_store is None:
            raise InputError(f"setup {self.setup} needs kubernetes.upload with vm_endpoint, service_endpoint and "
                             "credentials_secret (see config/cluster.yaml)")
        return self.cluster, self.cluster_store


@contextlib.contextmanager
def opened(way: StoreWay):
    """The configured endpoint, or an embedded SeaweedFS for the block; its bucket exists."""
    if way.endpoint is not None:
        ensure_bucket(way.endpoint, way.bucket)
        yield way.endpoint
    else:
        embedded = SeaweedFS(way.out_dir, isolate=way.embedded_store_path == "veth")
        with embedded as endpoint:
            ensure_bucket(endpoint, way.bucket)
            try:
                yield endpoint
            except StoreError as exc:  # the S3 answer hides the cause; the store's own log names it
                cause = SeaweedFS.fatal_cause(embedded.log_path)
                if cause is None:
                    raise
                raise StoreError(f"{exc}; the store's log ({embedded.log_path}) says: {cause}") from None
