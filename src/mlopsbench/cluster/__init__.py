"""A real single-node Kubernetes cluster on this machine, built from the package registries.

``build`` compiles etcd, the control plane, kubelet, kube-proxy, kube-state-metrics and
crictl from Go modules; ``images`` builds the pause and job images without Docker;
``lifecycle`` starts and removes the cluster (``mlopsbench cluster up|down|status``);
``target`` points a configuration's ``kubernetes`` section at it.
"""
