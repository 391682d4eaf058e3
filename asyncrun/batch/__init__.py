"""Batch runs: scenarios in, outcomes out as each run finishes, resumable through a journal."""

from asyncrun.batch.counters import BatchCounters
from asyncrun.batch.estimator import PollEstimator
from asyncrun.batch.interrupts import Interrupt
from asyncrun.batch.journal import Journal, JournalRow
from asyncrun.batch.outcome import RunOutcome, result_value
from asyncrun.batch.protocol import BatchApplication
from asyncrun.batch.runner import run_batch, run_batch_all
from asyncrun.batch.scenario import Scenario, from_manifest, from_sources, run_name, with_grid
from asyncrun.batch.schedule import BATCH_POLLING

__all__ = [
    "BATCH_POLLING",
    "BatchApplication",
    "BatchCounters",
    "Interrupt",
    "Journal",
    "JournalRow",
    "PollEstimator",
    "RunOutcome",
    "Scenario",
    "from_manifest",
    "from_sources",
    "result_value",
    "run_batch",
    "run_batch_all",
    "run_name",
    "with_grid",
]
