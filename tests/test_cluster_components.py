"""Unit tests of the cluster's component table, which needs no cluster: one entry per daemon,
its ports, its command line and configuration file made from the node alone, and the order
``up`` walks it in (``down`` walks it backwards). The daemons themselves run in
tests/test_cluster_lifecycle.py."""

from pathlib import Path

from mlopsbench.cluster.components import COMPONENTS, GO_MODULES, NAMES, PORTS, Node, waves
from mlopsbench.cluster.node import Layout, Network


def network() -> Network:
    return Network(node_ip="192.0.2.10", pod_cidr="10.244.0.0/24", cluster_cidr="10.244.0.0/16",
                   service_cidr="10.96.0.0/16", api_port=6443)


def test_one_entry_per_daemon_and_each_port_once():
    assert len(set(NAMES)) == len(NAMES) == 11 and len(set(PORTS)) == len(PORTS)
    assert [component.name for wave in waves() for component in wave] == list(NAMES)
    assert [[c.name for c in wave] for wave in waves()] == [
        ["containerd"], ["etcd"], ["kube-apiserver"],
        ["kube-controller-manager", "kube-scheduler", "kubelet", "kube-proxy"],
        ["provisioner"], ["kube-state-metrics"], ["prometheus", "registry"]]


def test_no_fixed_port_lies_where_the_kernel_hands_out_ports_to_connections():
    low, high = map(int, Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split())
    assert [port for port in PORTS if low <= port <= high] == []


def test_command_lines_and_configuration_files_come_from_the_node(tmp_path):
    layout = Layout(tmp_path / "state")
    binaries = {name: Path(f"/opt/bin/{name}") for name in NAMES}
    node = Node(layout, network(), binaries, 5.0, tmp_path, {}, ("access", "secret"))
    for component in COMPONENTS:
        argv = component.argv(node)
        assert argv and all(isinstance(arg, str) for arg in argv), component.name
        if component.config:
            written = component.config(node)
            assert written.is_file() and written.is_relative_to(layout.root), component.name
            assert any(str(written) in arg for arg in argv), f"{component.name} does not read {written}"
        for port in component.ports.values():
            assert any(str(port) in arg for arg in argv) or component.config, f"{component.name}: port {port}"


def test_each_daemons_certificates_kubeconfig_and_build_come_from_its_entry(tmp_path):
    """What up makes for a daemon (its certificates, signing keys, kubeconfig) and builds (its Go
    module) is read from its entry: a daemon is one entry."""
    from mlopsbench.cluster.lifecycle import _certificates

    layout = Layout(tmp_path / "state")
    for folder in (layout.pki, layout.conf):
        folder.mkdir(parents=True)
    _certificates(layout, network())
    for component in COMPONENTS:
        for leaf in component.certificates(network()):
            assert (layout.pki / f"{leaf.name}.crt").is_file() and (layout.pki / f"{leaf.name}.key").is_file()
        if component.kubeconfig:
            assert component.kubeconfig in {leaf.name for leaf in component.certificates(network())}, component.name
            assert (layout.conf / f"{component.name}.kubeconfig").is_file(), component.name
        for key in component.signing_keys:
            assert (layout.pki / f"{key}.key").is_file()
        if component.build:
            assert component.build in GO_MODULES and component.name in component.build.binaries, component.name
