"""The way to an object store, below the upload and serving experiments.

* ``objectstore``: the S3 store itself, an embedded SeaweedFS or any endpoint, and its clients;
* ``latency``: the delay on the way to it (netem where the kernel has it, else a TCP proxy);
* ``netns``: a network namespace behind a veth pair, the path a container's traffic takes;
* ``way``: one way to a store (where the client stands, the latency, the store, how objects
  are cut), and the store it opens;
* ``on_cluster``: the store on a cluster (``kubernetes.upload``) and what puts the latency on
  its way there: the netem DaemonSet on the edge node or a delay proxy pod in front of it.

Upload and serving import from here; nothing here imports them.
"""
