"""Kubernetes: ``kube`` (the API clients, names and labels every part that talks to a cluster
shares) and a real cluster of one node or more on this machine, built from the package registries.

``build`` compiles etcd, the control plane, kubelet, kube-proxy, kube-state-metrics and
crictl from Go modules; ``images`` builds the pause and job images without Docker;
``nodes`` says where each node lives (the first in this machine's network namespace, every
further one in its own); ``components`` describes each of its daemons in one entry; ``objects`` the Kubernetes
objects it needs; ``lifecycle`` starts and removes it (``mlopsbench cluster up|down|status``);
``target`` is the cluster a study runs on (any kubeconfig's, or this one), built once from
a configuration's ``kubernetes`` section.
"""
