"""A block of the pipeline experiment: one configuration and repetition with every backend run
back to back.

The machine's speed drifts over hours, so backends compared across hours compare hours as much as
backends. Within a block they run minutes apart, in an order drawn from the study's seed for that
block (the same order when the block resumes), recorded in every run's ``run-started`` record
and in the block's record, which is written once all of its runs have finished. Comparisons
between backends pair runs of one block.

A block resumes where it stopped: a run that finished is never run again, unless it was measured
with other parameters, in which case it is kept beside as superseded (listed, never counted) and
measured again. A run that fails does not stop the others; the block then fails, naming it, and its
next attempt runs only what has not finished.
"""

from __future__ import annotations

import logging
import random
import time
from dataclasses import replace
from pathlib import Path

from .. import atomic
from ..records import BlockPlace
from .backends import backend
from .compiler import Plan
from .run import RunFailed, RunSpec, finished_differently, set_aside

log = logging.getLogger(__name__)


def block_order(backends, seed: int, configuration: str, rep: int) -> list[str]:
    """The order a block runs its backends in: a shuffle seeded by the study's seed and the block."""
    order = sorted(backends)
    random.Random(f"{seed}/{configuration}/{rep}").shuffle(order)
    return order


def run_block(plan: Plan, specs: list[RunSpec], seed: int, record: Path) -> dict:
    """Run every spec's backend of one block in its drawn order; write ``record`` when all finished."""
    first = specs[0].run
    by_backend = {spec.backend: spec for spec in specs}
    order = block_order(by_backend, seed, first.configuration, first.rep)
    block_id = f"{first.configuration}/{first.rep}"
    outcomes, failed = {}, {}
    for position, name in enumerate(order):
        spec = by_backend[name]
        changed = finished_differently(spec, plan)
        if changed == []:
            log.info("block %s: %s finished earlier; kept (%d of %d)", block_id, name, position + 1, len(order))
            outcomes[name] = "finished earlier"
            continue
        if changed:
            log.warning("block %s: %s finished with other parameters (%s); measured again", block_id, name,
                        ", ".join(changed))
            set_aside(spec.run_dir)
        log.info("block %s: %s (%d of %d, order %s)", block_id, name, position + 1, len(order), " > ".join(order))
        place = BlockPlace(first.configuration, first.rep, seed, order, position)
        try:
            outcomes[name] = backend(name).run(plan, replace(spec, block=place))
        except RunFailed as exc:
            outcomes[name] = failed[name] = str(exc)
            log.error("block %s: %s", block_id, exc)
    if failed:
        raise RunFailed(f"block {block_id}: {len(failed)} of {len(order)} runs failed ({', '.join(failed)}); the "
                        "next attempt runs only those: " + "; ".join(failed.values()))
    summary = {"v": 1, "block": block_id, "seed": seed, "order": order, "finished": time.time(),
               "runs": outcomes}
    atomic.write_json(record, summary)
    return summary
