"""Integration tests: pushing images to a real registry (Debian's docker-registry, the distribution
API's reference implementation) on loopback, no cluster: the manifest names every blob, a second
push sends nothing, and a wrong name or an absent registry is a clear error."""

import os
import shutil
import socket
import subprocess

import pytest
import requests

from mlopsbench.cluster import images
from mlopsbench.cluster.daemons import wait_until
from mlopsbench.cluster.node import Layout, registry_config
from mlopsbench.cluster.registry import RegistryError, push, split_reference

pytestmark = [pytest.mark.integration, pytest.mark.machine]  # the image cache the cluster builds into


@pytest.fixture(scope="module")
def registry(tmp_path_factory):
    binary = shutil.which("docker-registry")
    if binary is None:
        (pytest.fail if os.environ.get("CI") else pytest.skip)("docker-registry is missing (install.sh installs it)")
    root = tmp_path_factory.mktemp("registry")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        address = f"127.0.0.1:{probe.getsockname()[1]}"
    config = registry_config(Layout(root), address, storage=root / "data")   # the cluster's own, elsewhere
    server = subprocess.Popen([binary, "serve", str(config)], stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    wait_until("docker-registry", lambda: requests.get(f"http://{address}/v2/", timeout=1).ok, 30)
    yield address
    server.terminate()
    server.wait(timeout=10)


def test_a_pushed_image_is_whole_and_a_second_push_sends_nothing(registry, caplog):
    layers = images.pause_layers()
    pinned = push(f"{registry}/mlopsbench-pause:test", layers, images.PAUSE_CONFIG, plain_http=True)
    digest = pinned.rpartition("@")[2]
    manifest = requests.get(f"http://{registry}/v2/mlopsbench-pause/manifests/test",
                            headers={"Accept": images.MANIFEST_TYPE}, timeout=10)
    assert manifest.ok and manifest.headers["Docker-Content-Digest"] == digest
    for blob in [manifest.json()["config"], *manifest.json()["layers"]]:
        assert requests.head(f"http://{registry}/v2/mlopsbench-pause/blobs/{blob['digest']}", timeout=10).ok
    with caplog.at_level("INFO", logger="mlopsbench.cluster.registry"):
        assert push(f"{registry}/mlopsbench-pause:test", layers, images.PAUSE_CONFIG, plain_http=True) == pinned
    assert "0 MB sent" in caplog.text


@pytest.mark.parametrize("reference", ["mlopsbench:1", "example.org/Upper:1", "example.org/mlopsbench:bad tag"])
def test_a_reference_without_registry_or_with_a_bad_name_is_refused(reference):
    with pytest.raises(RegistryError, match=reference):
        split_reference(reference)


def test_an_absent_registry_is_named():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed = probe.getsockname()[1]
    with pytest.raises(RegistryError, match=f"registry http://127.0.0.1:{closed}"):
        push(f"127.0.0.1:{closed}/mlopsbench-pause:test", images.pause_layers(), images.PAUSE_CONFIG, plain_http=True)
