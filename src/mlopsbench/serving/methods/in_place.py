"""in-place: an updater beside the server polls the store's pointer every ``poll_interval_s``,
downloads a new version and has the server load it beside the serving one; the server switches
once it loaded. The edge may be processes here (host, netns) or a pod (vm, pod)."""

from __future__ import annotations

from . import Method

METHOD = Method(
    name="in-place", needs_pod=False, updater=True,
    recorded=lambda spec: {"poll_interval_s": spec.poll_interval_s},
    follow=lambda edge, version, timeout_s: edge.observed(timeout_s),
)
