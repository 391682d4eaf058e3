"""What an experiment's runs say: their statuses and, once finished, their outputs (read once
and kept), for the status and the statistics of experiments.py."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

from asyncrun.emulator.experiments import BatchExperiment, Record, grouped_summaries
from asyncrun.emulator.runs import TERMINAL, Run
from asyncrun.emulator.state import EmulatorState

# Outputs of app processes bigger than this are not parsed for statistics (no value).
MAX_PARSED_OUTPUT = 64 * 2**20


def runs_of(state: EmulatorState, batch: BatchExperiment) -> list[Run | None]:
    """The experiment's runs in plan order; None for a run deleted since."""
    return [state.store.get(batch.app_id, run_id) for run_id in batch.run_ids]


def run_statuses(state: EmulatorState, batch: BatchExperiment, now: float) -> list[str]:
    return [r.status(now) if r is not None else "canceled" for r in runs_of(state, batch)]


async def records(state: EmulatorState, batch: BatchExperiment, now: float) -> list[Record]:
    """Each planned run with its run and output: kept once every run has finished."""
    if batch.records is not None:
        return batch.records
    runs = runs_of(state, batch)
    found = []
    for planned, run in zip(batch.planned, runs, strict=True):
        output = await _output(state, run, now) if run is not None else None
        found.append(Record(planned, run, output))
    if all(r is None or r.status(now) in TERMINAL for r in runs):
        batch.records = found
    return found


async def _output(state: EmulatorState, run: Run, now: float) -> Any:
    """The parsed JSON output of a succeeded run (None otherwise, or when not JSON)."""
    if run.status(now) != "succeeded":
        return None
    if not run.command:
        return state.document(run)
    key = run.output_key
    if key is None or run.output_type != "json" or not state.storage.exists(key):
        return None
    if state.storage.size(key) > MAX_PARSED_OUTPUT:
        return None
    return await asyncio.to_thread(_read_json, state.storage.path(key))


def _read_json(path: Path) -> Any:
    try:
        with open(path, "rb") as source:
            return json.load(source)
    except ValueError:
        return None


async def summaries(
    state: EmulatorState, batch: BatchExperiment, now: float
) -> list[dict[str, Any]]:
    """The grouped summaries of a finished experiment, computed once."""
    if batch.summaries is None:
        batch.summaries = grouped_summaries(await records(state, batch, now))
    return batch.summaries
