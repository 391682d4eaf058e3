"""Batch runs: scenarios in, outcomes out as each run finishes, resumable through a journal."""

from asyncrun.batch.estimator import PollEstimator
from asyncrun.batch.journal import Journal, JournalRow
from asyncrun.batch.outcome import RunOutcome, result_value
from asyncrun.batch.scenario import Scenario, from_manifest, from_sources, run_name, with_grid

__all__ = [
    "Journal",
    "JournalRow",
    "PollEstimator",
    "RunOutcome",
    "Scenario",
    "from_manifest",
    "from_sources",
    "result_value",
    "run_name",
    "with_grid",
]
