"""rollout: Kubernetes's way. A new version is a new pod template; the rolling update starts a new
pod beside the old one (``maxSurge: 1, maxUnavailable: 0``), its init container fetches the
version, and the old pod drains and goes once the new one is Ready. The edge must be a pod."""

from __future__ import annotations

from ..pods import DRAIN_S, MAX_SURGE, MAX_UNAVAILABLE
from . import Method

METHOD = Method(
    name="rollout", needs_pod=True, updater=False,
    recorded=lambda spec: {"poll_interval_s": None, "max_surge": MAX_SURGE, "max_unavailable": MAX_UNAVAILABLE,
                           "drain_s": float(DRAIN_S)},
    follow=lambda edge, version, timeout_s: edge.roll_out(version, timeout_s),
    baseline="in-place", claim="Rolling out a new pod takes longer than swapping the model in place",
)
