"""The emulator's settings, from Python and from the command line."""

from __future__ import annotations

import argparse

import pytest

from asyncrun.cli import emulator_cmd, main
from asyncrun.emulator import EmulatorConfig, FaultProfile


def _parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    emulator_cmd.register(parser.add_subparsers(dest="command"))
    return parser.parse_args(["emulator", *argv])


def test_command_line_flags_reach_the_config() -> None:
    args = _parse(
        [
            "--api-key", "k", "--time-scale", "25", "--profile", "realistic",
            "--fault-429", "0.05", "--fault-503", "0.1", "--fault-lost-create", "0.02",
            "--slow-seconds", "2", "--seed", "9", "--url-ttl", "60", "--upload-cap", "1000",
            "--duration", "1", "3", "--app-command", "cat", "--fault-storage-drop", "0.1",
            "--capacity", "7", "--fault-late-create", "0.03", "--late-seconds", "4",
        ]
    )  # fmt: skip
    config = emulator_cmd.config_from_args(args)
    assert config.api_key == "k"
    assert config.time_scale == 25.0
    assert config.rate_profile == "realistic"
    assert config.faults == FaultProfile(
        rate_429=0.05,
        rate_503=0.1,
        lost_create=0.02,
        slow_seconds=2.0,
        storage_drop=0.1,
        late_create=0.03,
        late_seconds=4.0,
    )
    assert (config.seed, config.url_ttl, config.upload_cap) == (9, 60.0, 1000)
    assert config.duration == (1.0, 3.0)
    assert config.app_command == "cat"
    assert config.capacity == 7


def test_bad_flags_are_refused_before_serving() -> None:
    assert main(["emulator", "--fault-500", "0.9", "--fault-drop", "0.9"]) == 2
    assert main(["emulator", "--fault-late-create", "0.1", "--late-seconds", "-1"]) == 2


@pytest.mark.parametrize(
    "changes",
    [
        {"time_scale": 0.0},
        {"duration": (2.0, 1.0)},
        {"rate_profile": "fast"},
        {"api_key": ""},
        {"page_size": 0},
        {"capacity": 0},
    ],
)
def test_invalid_config_is_refused(changes: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        EmulatorConfig().replace(**changes)


def test_repr_hides_the_key() -> None:
    assert "sekret" not in repr(EmulatorConfig(api_key="sekret"))
