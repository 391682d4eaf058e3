"""-v / -q and the folding of repeated log lines into one per distinct problem."""

from __future__ import annotations

import logging

import pytest

from asyncrun.cli.log_output import log_output

logger = logging.getLogger("asyncrun")


def _retry_chatter(attempts: int) -> None:
    for attempt in range(attempts):
        logger.warning(
            "retrying %s %s: attempt %d failed (%s), next in %.2f s",
            "POST",
            f"http://127.0.0.1:1/v1/applications/app-{attempt % 3}/runs",
            attempt % 5 + 1,
            "could not connect (ConnectionRefusedError: Connect call failed)",
            0.1 * attempt,
        )
    logger.warning("retrying GET http://h/v1/x: attempt 1 failed (status 503), next in 1 s")
    logger.info("scenario s001: input file 's001.json' is not valid JSON")
    logger.debug("every poll")


def _lines(capsys: pytest.CaptureFixture[str]) -> list[str]:
    return capsys.readouterr().err.splitlines()


def test_by_default_one_line_per_distinct_problem(capsys: pytest.CaptureFixture[str]) -> None:
    with log_output():
        _retry_chatter(1200)
    lines = _lines(capsys)
    assert len(lines) == 3
    assert lines[0].startswith("asyncrun: retrying POST http://127.0.0.1:1/v1/applications/")
    assert "status 503" in lines[1]
    assert lines[2] == (
        "asyncrun: 1199 repeated log lines were folded (2 distinct); -vv shows every one"
    )


def test_verbose_adds_scenario_problems_still_folded(capsys: pytest.CaptureFixture[str]) -> None:
    with log_output(verbose=1):
        _retry_chatter(50)
        logger.info("scenario s002: input file 's002.json' is not valid JSON")
    lines = _lines(capsys)
    assert [line for line in lines if "scenario" in line] == [
        "asyncrun: scenario s001: input file 's001.json' is not valid JSON",
        "asyncrun: scenario s002: input file 's002.json' is not valid JSON",
    ]
    assert len([line for line in lines if "retrying POST" in line]) == 1


def test_very_verbose_shows_every_line(capsys: pytest.CaptureFixture[str]) -> None:
    with log_output(verbose=2):
        _retry_chatter(50)
    lines = _lines(capsys)
    assert len([line for line in lines if "retrying POST" in line]) == 50
    assert "asyncrun: every poll" in lines
    assert not [line for line in lines if "folded" in line]


def test_quiet_shows_errors_only(capsys: pytest.CaptureFixture[str]) -> None:
    with log_output(quiet=True):
        _retry_chatter(50)
        logger.error("the journal could not be written")
    assert _lines(capsys) == ["asyncrun: the journal could not be written"]


def test_explicit_problem_attribute_decides_what_is_the_same(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with log_output():
        for name in ("a", "b", "c"):
            logger.warning("run %s: slow answer", name, extra={"problem": "slow"})
    assert _lines(capsys)[0] == "asyncrun: run a: slow answer"


def test_the_logger_is_restored_afterwards() -> None:
    before = (logger.level, logger.propagate, list(logger.handlers))
    with log_output(verbose=1):
        pass
    assert (logger.level, logger.propagate, list(logger.handlers)) == before
