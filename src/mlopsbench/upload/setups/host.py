"""host: the uploader talks to the store over this machine's loopback, like the thesis's VM to VM."""

from __future__ import annotations

from ...store.way import opened
from ..plan import CellSpec, local_plan
from ..transfer import Sink, upload_from_here
from . import Setup, always_available


def store_kind(spec: CellSpec) -> str:
    return spec.store_kind


def run(spec: CellSpec, plan: list[dict], sink: Sink) -> None:
    with opened(spec) as endpoint:
        upload_from_here(spec, plan, endpoint, store_kind(spec), "proxy", sink)


SETUP = Setup(
    name="host", thesis_role="vm", peer="netns",
    path="host: the uploader runs on this machine and reaches the store over loopback (the thesis's VM to VM).",
    unavailable=always_available, store=store_kind, plan=local_plan, run=run,
)
