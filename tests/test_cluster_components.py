"""Unit tests of the cluster's component table, which needs no cluster: one entry per daemon,
its ports, its command line and configuration file made from the node alone, a node's own daemons
once per node, and the order ``up`` walks it in (``down`` walks it backwards). The daemons
themselves run in tests/test_cluster_lifecycle.py and tests/test_cluster_nodes.py."""

from pathlib import Path

from mlopsbench.cluster.components import (GO_MODULES, NAMES, PORTS, Node, instance_names, instances,
                                           registry_address, waves)
from mlopsbench.cluster.lifecycle import _certificates
from mlopsbench.cluster.node import Layout, Network
from mlopsbench.cluster.nodes import ONE_NODE, NodeSpec, place


def network(several: bool = False) -> Network:
    return Network(node_ip="192.0.2.10", cluster_cidr="10.244.0.0/16",
                   service_cidr="10.96.0.0/16", api_port=6443, nodes_cidr="10.250.0.0/24" if several else None)


CORE_EDGE = (NodeSpec("core", "core"), NodeSpec("edge", "edge", 1.0, 2048))


def places(specs=ONE_NODE, several=False):
    return place(specs, "192.0.2.10", "10.244.0.0/16", network(several).nodes_cidr)


def test_one_entry_per_daemon_and_each_port_once():
    assert len(set(NAMES)) == len(NAMES) == 11 and len(set(PORTS)) == len(PORTS)
    one = places()
    assert [i.name for wave in waves(one) for i in wave] == list(NAMES) == list(instance_names(one))
    assert [[i.name for i in wave] for wave in waves(one)] == [
        ["containerd"], ["etcd"], ["kube-apiserver"],
        ["kube-controller-manager", "kube-scheduler", "kubelet", "kube-proxy"],
        ["provisioner"], ["kube-state-metrics"], ["prometheus", "registry"]]


def test_a_nodes_own_daemons_run_once_per_node_in_its_namespace():
    two = places(CORE_EDGE, several=True)
    assert [[i.name for i in wave] for wave in waves(two)] == [
        ["containerd", "containerd@edge"], ["etcd"], ["kube-apiserver"],
        ["kube-controller-manager", "kube-scheduler", "kubelet", "kubelet@edge", "kube-proxy", "kube-proxy@edge"],
        ["provisioner"], ["kube-state-metrics"], ["prometheus", "registry"]]
    core, edge = two
    assert (core.address, core.pod_cidr, core.netns) == ("192.0.2.10", "10.244.0.0/24", None)
    assert (edge.address, edge.pod_cidr, edge.netns) == ("10.250.0.2", "10.244.1.0/24", "mlb-edge")
    edge_kubelet = next(i for i in instances(two) if i.name == "kubelet@edge")
    assert edge_kubelet.argv(context(Layout(Path("/state")), edge, several=True))[:2] == [
        "nsenter", "--net=/run/netns/mlb-edge"]


def test_every_node_pulls_from_the_registry_where_it_reaches_it(tmp_path):
    """Loopback with one node; the nodes' bridge (this machine's end) with more, which every node's
    containerd reaches; the same address in each containerd's registry configuration."""
    assert registry_address(network()) == "127.0.0.1:5055"
    assert registry_address(network(several=True)) == "10.250.0.1:5055"
    layout = Layout(tmp_path / "state")
    for where in places(CORE_EDGE, several=True):
        instance = next(i for i in instances(places(CORE_EDGE, several=True))
                        if i.component.name == "containerd" and i.place == where)
        instance.component.config(context(layout, where, several=True))
        hosts = layout.of(where).conf / "registries" / "10.250.0.1:5055" / "hosts.toml"
        assert 'server = "http://10.250.0.1:5055"' in hosts.read_text()


def test_a_node_is_written_and_read_back_as_an_argument():
    for spec in (*CORE_EDGE, NodeSpec("n1", "core+edge", 0.5)):
        assert NodeSpec.parse(spec.argument()) == spec


def context(layout: Layout, where, several: bool = False) -> Node:
    binaries = {name: Path(f"/opt/bin/{name}") for name in NAMES}
    return Node(layout.of(where), network(several), where, several, binaries, 5.0, Path("/repo"), {},
                ("access", "secret"))


def test_no_fixed_port_lies_where_the_kernel_hands_out_ports_to_connections():
    low, high = map(int, Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split())
    assert [port for port in PORTS if low <= port <= high] == []


def test_command_lines_and_configuration_files_come_from_the_node(tmp_path):
    layout = Layout(tmp_path / "state")
    for instance in instances(places(CORE_EDGE, several=True)):
        component, node = instance.component, context(layout, instance.place, several=True)
        argv = instance.argv(node)
        assert argv and all(isinstance(arg, str) for arg in argv), instance.name
        if component.config:
            written = component.config(node)
            assert written.is_file() and written.is_relative_to(node.layout.root), instance.name
            assert any(str(written) in arg for arg in argv), f"{instance.name} does not read {written}"
            assert (instance.place.netns is None) == (written.parent == layout.conf), instance.name  # a node's own
        for port in component.ports.values():
            assert any(str(port) in arg for arg in argv) or component.config, f"{instance.name}: port {port}"


def test_each_daemons_certificates_kubeconfig_and_build_come_from_its_entry(tmp_path):
    """What up makes for a daemon (its certificates, signing keys, kubeconfig) and builds (its Go
    module) is read from its entry, on every node it runs on: a daemon is one entry."""
    layout = Layout(tmp_path / "state")
    for folder in (layout.pki, layout.conf):
        folder.mkdir(parents=True)
    two = instances(places(CORE_EDGE, several=True))
    _certificates(layout, network(several=True), two)
    for instance in two:
        component, where = instance.component, instance.place
        leaves = component.certificates(network(several=True), where)
        for leaf in leaves:
            assert (layout.pki / f"{leaf.name}.crt").is_file() and (layout.pki / f"{leaf.name}.key").is_file()
        if component.kubeconfig:
            assert component.kubeconfig + where.suffix in {leaf.name for leaf in leaves}, instance.name
            assert (layout.of(where).conf / f"{component.name}.kubeconfig").is_file(), instance.name
        for key in component.signing_keys:
            assert (layout.pki / f"{key}.key").is_file()
        if component.build:
            assert component.build in GO_MODULES and component.name in component.build.binaries, component.name


def test_a_claims_volume_goes_to_the_node_its_first_pod_was_placed_on():
    from types import SimpleNamespace

    from mlopsbench.cluster.provisioner import SELECTED_NODE, claim_node, storage_class

    def claim(annotations):
        return SimpleNamespace(metadata=SimpleNamespace(annotations=annotations))

    assert claim_node(claim(None), ["only"]) == "only"                       # one node: bound at once
    assert claim_node(claim(None), ["core", "edge"]) is None                 # several: wait for the scheduler
    assert claim_node(claim({SELECTED_NODE: "edge"}), ["core", "edge"]) == "edge"
    assert storage_class(False)["volumeBindingMode"] == "Immediate"
    assert storage_class(True)["volumeBindingMode"] == "WaitForFirstConsumer"


def test_a_node_that_offers_less_than_the_machine_reserves_the_rest(tmp_path):
    import os

    import yaml

    from mlopsbench.cluster.node import kubelet_config

    core, edge = places(CORE_EDGE, several=True)
    config = yaml.safe_load(kubelet_config(Layout(tmp_path).of(edge), edge, 10250, 10248).read_text())
    assert config["systemReserved"]["cpu"] == f"{(os.cpu_count() - 1) * 1000}m"
    assert config["cgroupRoot"] == "/mlb-edge" and config["healthzBindAddress"] == "10.250.0.2"
    whole = yaml.safe_load(kubelet_config(Layout(tmp_path), core, 10250, 10248).read_text())
    assert "systemReserved" not in whole and whole["cgroupRoot"] == "/"
