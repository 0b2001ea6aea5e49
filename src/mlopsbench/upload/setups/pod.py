"""pod: a Job on the core node builds the models and uploads them to the store's Service from
inside the cluster (the thesis's Kubernetes pod); its records are read from the Job's log.
The latency is the edge node's netem where enabled, else a delay proxy pod on the edge node in
front of the store."""

from __future__ import annotations

import contextlib
import time
from dataclasses import asdict

from ...cluster.kube import labels
from ...cluster.target import target_from_config
from ...records import UploadRecord
from ..objectstore import StoreError
from ..plan import CellSpec, UploadModel
from ..transfer import Sink
from ..worker import job
from . import Setup, always_available
from ._cluster import (cluster_latency, delay_proxy_service, job_manifest, options_of, run_job,
                       service_address)
from .vm import store_kind


def plan(spec: CellSpec, models: list[UploadModel], done: set) -> list[dict]:
    """The models are built in the pod, at the paths its Job writes them to."""
    return [{"path": f"/tmp/models/model_{m.size_mb:g}MB.keras", "model_mb": m.size_mb, "rep": rep,
             "object": f"pod-{spec.latency_ms:g}ms-model_{m.size_mb:g}MB-rep{rep}"}
            for rep in range(1, spec.reps + 1) for m in models if (m.size_mb, rep) not in done]


def run(spec: CellSpec, items: list[dict], sink: Sink) -> None:
    options = options_of(spec)
    name = f"mlb-upload-{spec.latency_ms:g}ms-{int(time.time())}".replace(".", "-")
    sizes = sorted({(item["model_mb"], spec.unit) for item in items})
    store = service_address(options.clients.core, options.namespace, options.upload.service_endpoint)
    with cluster_latency(spec) as emulation, contextlib.ExitStack() as path:
        target = store
        if emulation == "proxy":  # as on this machine: the proxy relays at 0 ms, so every latency pays it
            target = path.enter_context(delay_proxy_service(options, store, spec.latency_ms, spec.window_bytes))
        context = {"study": spec.study, "setup": spec.setup, "endpoint": f"http://{options.upload.service_endpoint}",
                   "emulation": emulation, "parameters": asdict(spec.parameters(store_kind(spec)))}
        manifest = job_manifest(options, name, labels("uploader", name), sizes, job(context, items), target,
                                options.service_account, int(options.upload.job_timeout_s))
        lines, job_failed = run_job(options.clients.core, options.clients.batch, options.namespace, manifest,
                                    options.upload.service_endpoint, options.upload.job_timeout_s + 60)
    records = [UploadRecord.from_json(line) for line in lines]
    for record in records:
        sink(record)
    failure = next((r.error for r in records if r.status == "failed"), None)
    if job_failed and failure is None:
        # The Job died before it reported the next upload: that upload failed.
        reported = {(r.model_mb, r.rep) for r in records}
        item = next(i for i in items if (i["model_mb"], i["rep"]) not in reported)
        failure = f"store {context['endpoint']}: upload Job {options.namespace}/{name} failed before reporting (see its log)"
        sink(UploadRecord(study=spec.study, setup=spec.setup, model_mb=item["model_mb"], rep=item["rep"],
                          parameters=spec.parameters(store_kind(spec)), endpoint=context["endpoint"],
                          emulation=emulation, bytes=0, requests=0, started=time.time(), status="failed",
                          error=failure))
    if failure:
        raise StoreError(failure)


SETUP = Setup(
    name="pod", thesis_role="pod", peer="vm",
    path="pod: a Kubernetes Job on the core node uploads to the store's Service from inside the cluster "
         "(the thesis's pod).",
    unavailable=always_available, store=store_kind, plan=plan, run=run,
    cluster_target=target_from_config,
)
