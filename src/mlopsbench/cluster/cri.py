"""The container runtime's own clock: nanosecond times of each pod's sandbox and containers.

Where the runner shares a machine with the node (the local cluster), it reads them with
crictl before the run's pods are deleted, so the seconds Kubernetes adds to a step can be
split into scheduling, sandbox and network set-up, container start and the report of the
exit. Only each object's ``status`` is kept: its ``info`` is the runtime spec the runner
itself sent (the whole compiled step, again), several kilobytes a pod.
"""

from __future__ import annotations

import json
import subprocess
from datetime import datetime, timezone
from pathlib import Path

from .build import recorded_binary
from .node import Layout


def crictl_command(layout: Layout) -> list[str]:
    return [str(recorded_binary(layout.root, "crictl")), "--runtime-endpoint", f"unix://{layout.socket}"]


def _json(crictl: list[str], command: str, *args: str) -> dict:
    # Options before the IDs: crictl takes everything after the first ID as more IDs.
    done = subprocess.run([*crictl, "--timeout", "20s", command, "-o", "json", *args], capture_output=True, text=True,
                          timeout=60)
    if done.returncode != 0:
        raise RuntimeError(f"crictl {command} {' '.join(args)}: {done.stderr.strip()[-300:]}")
    return json.loads(done.stdout)


def inspect_pods(crictl: list[str], labels: dict[str, str], names: set[str]) -> dict:
    """Each pod of ``names`` among those with ``labels``: its sandbox's status and its
    containers' statuses (the newest sandbox, should the kubelet have made a second)."""
    selector = [arg for key, value in labels.items() for arg in ("--label", f"{key}={value}")]
    sandboxes = [s for s in _json(crictl, "pods", *selector)["items"] if s["metadata"]["name"] in names]
    found = {}
    for sandbox in sorted(sandboxes, key=lambda s: int(s["createdAt"])):
        try:
            containers = _json(crictl, "ps", "-a", "--pod", sandbox["id"])["containers"]
            found[sandbox["metadata"]["name"]] = {
                "sandbox": _json(crictl, "inspectp", sandbox["id"])["status"],
                "containers": [_json(crictl, "inspect", c["id"])["status"] for c in containers],
            }
        except RuntimeError as exc:  # one pod's sandbox gone: say so, keep the others
            found[sandbox["metadata"]["name"]] = {"error": str(exc)}
    return found


def container_pid(crictl: list[str], container_id: str) -> int:
    """The process of a running container (its network namespace is ``/proc/<pid>/ns/net``)."""
    return int(_json(crictl, "inspect", container_id)["info"]["pid"])


def seconds(stamp: str) -> float:
    """A CRI time as epoch seconds: crictl prints nanoseconds ("1796227693004755844") in lists
    and RFC 3339 with nanoseconds ("2026-12-02T16:08:13.004755844Z") in inspections."""
    if stamp.isdigit():
        return int(stamp) / 1e9
    whole, _, fraction = stamp.rstrip("Z").partition(".")
    moment = datetime.strptime(whole, "%Y-%m-%dT%H:%M:%S").replace(tzinfo=timezone.utc)
    return moment.timestamp() + (int(fraction) / 10 ** len(fraction) if fraction else 0.0)


def read_saved(path: Path) -> dict:
    return json.loads(path.read_text()) if path.exists() else {}
