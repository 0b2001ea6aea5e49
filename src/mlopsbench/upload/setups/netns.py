"""netns: the uploader runs in its own network namespace behind a veth pair, the path a
container's traffic takes (the thesis's pod, on one machine). Needs root."""

from __future__ import annotations

import logging

from ...store.latency import netem_available, set_netem
from ...store.netns import Namespace, namespaces_supported
from ...store.way import opened
from ..plan import CellSpec, local_plan
from ..transfer import Sink, upload_from_here
from . import Setup
from .host import store_kind

log = logging.getLogger(__name__)


def unavailable(spec: CellSpec) -> str | None:
    supported, why = namespaces_supported()
    return None if supported else why


def run(spec: CellSpec, plan: list[dict], sink: Sink) -> None:
    with opened(spec) as endpoint, Namespace() as ns:
        netem, why = netem_available(ns.peer_device, ns.name)
        if netem and spec.latency_ms > 0:
            set_netem(ns.peer_device, spec.latency_ms / 2, ns.name)
            set_netem(ns.host_device, spec.latency_ms / 2)
        elif not netem:
            log.info("netem unavailable in %s (%s): using the delay proxy", ns.name, why)
        upload_from_here(spec, plan, endpoint, store_kind(spec), "netem" if netem else "proxy", sink,
                         namespace=ns, listen=ns.host_ip)


SETUP = Setup(
    name="netns", thesis_role="pod", peer="host",
    path="netns: the uploader runs in its own network namespace joined by a veth pair, the path a container's "
         "traffic takes (the thesis's pod, on one machine).",
    unavailable=unavailable, store=store_kind, plan=local_plan, run=run,
)
