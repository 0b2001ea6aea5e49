"""The model-update experiment (thesis Sections 4.2 and 6.2): one cell, whatever the setup.

One *cell* is a setup at one latency: every model is uploaded ``reps`` times to the
object store through the emulated latency, and every upload is verified and recorded as
one line in ``uploads.jsonl`` as soon as it ends. A cell that is interrupted resumes
with the uploads it lacks (measured with the same parameters); ``run.json`` marks it
finished. One command at a time owns a cell directory (a lock file beside it).
"""

from __future__ import annotations

import logging

from .. import atomic
from ..locks import DirectoryLock
from ..rawdirs import CellDir
from ..records import JsonLines
from .plan import CellSpec, UploadModel, read_records, reusable_records
from .setups import setup

log = logging.getLogger(__name__)


def run_cell(spec: CellSpec, models: list[UploadModel]) -> dict:
    """Run (or resume) one cell; return its manifest. Raises StoreError if the store fails."""
    chosen = setup(spec.setup)
    raw = CellDir(spec.out_dir)
    with DirectoryLock(spec.out_dir):
        spec.out_dir.mkdir(parents=True, exist_ok=True)
        manifest = {"v": 1, "study": spec.study, "setup": spec.setup, "latency_ms": spec.latency_ms,
                    "reps": spec.reps}
        why = chosen.unavailable(spec)
        if why:
            log.warning("setup %s skipped: %s", spec.setup, why)
            manifest |= {"status": "skipped", "reason": why}
            atomic.write_json(raw.finished, manifest)
            return manifest
        store = chosen.store(spec)
        done = reusable_records(spec, store)
        plan = chosen.plan(spec, models, done)
        if plan:
            log.info("%s at %g ms: %d uploads to do, %d already recorded", spec.setup, spec.latency_ms,
                     len(plan), len(done))
            with JsonLines(raw.records) as records:
                chosen.run(spec, plan, records.append)
        manifest |= {"status": "succeeded", "uploads": len(read_records(spec.out_dir)),
                     "parameters": spec.parameters(store).__dict__}
        atomic.write_json(raw.finished, manifest)
        return manifest
