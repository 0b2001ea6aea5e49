"""The serving experiment, beyond the thesis: how long until a model server at the edge answers
with a newly uploaded model.

The thesis asks how efficiently a model served at an edge node can be updated (Section 1)
and measures only the upload (Section 6.2). Here the update ends when the server answers
with the new version:

* ``versions``: where a model's versions live in the object store, and how a new one is
  published (its file first, then the pointer to it, so nobody sees half a version).
* ``server``: the edge's model server, KServe's ModelServer (Open Inference / V2 protocol)
  with the regression model as a ``kserve.Model`` and a repository whose load swaps in the
  newest downloaded version only once it has loaded beside the old one. It runs in its own
  environment (``env``), since KServe pins older pandas, protobuf and psutil than the study.
* ``updater``: the in-place way, as TF-Serving polls its model path: ask the store for the
  pointer every poll interval, download a new version, ask the server to load it.
* ``client``: predictions at a fixed rate through every update, one record per request.
"""
