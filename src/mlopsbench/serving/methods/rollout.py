"""rollout: Kubernetes's way. A new version is a new pod template; the rolling update starts a new
pod beside the old one (``maxSurge: 1, maxUnavailable: 0``), its init container fetches the
version, and the old pod drains and goes once the new one is Ready. The edge must be a pod."""

from __future__ import annotations

from . import Method

# How a roll-out goes, which the edge's Deployment (``pods``) is made with and every update records:
# the new pod starts beside the old one, and the old one answers for DRAIN_S more once it is told to go.
MAX_SURGE, MAX_UNAVAILABLE = 1, 0
DRAIN_S = 5

METHOD = Method(
    name="rollout", needs_pod=True, updater=False,
    recorded=lambda spec: {"poll_interval_s": None, "max_surge": MAX_SURGE, "max_unavailable": MAX_UNAVAILABLE,
                           "drain_s": float(DRAIN_S)},
    follow=lambda edge, version, timeout_s: edge.roll_out(version, timeout_s),
    baseline="in-place", claim="Rolling out a new pod takes longer than swapping the model in place",
)
