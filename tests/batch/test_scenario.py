"""Scenarios, run names and scenario sources (files, directories, manifests, grids)."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import pytest

from asyncrun import ConfigError, Scenario
from asyncrun.batch.scenario import (
    MAX_RUN_NAME_LENGTH,
    from_manifest,
    from_sources,
    parse_grid,
    run_name,
    with_grid,
)


def test_a_scenario_needs_exactly_one_input() -> None:
    with pytest.raises(ValueError, match="exactly one"):
        Scenario(key="a")
    with pytest.raises(ValueError, match="exactly one"):
        Scenario(key="a", input={"x": 1}, input_file=Path("x.json"))
    assert Scenario(key="a", input={"x": 1}).input == {"x": 1}


@pytest.mark.parametrize("key", ["", "x" * 201, "tab\there", "new\nline", "del\x7f"])
def test_bad_keys_are_refused(key: str) -> None:
    with pytest.raises(ValueError, match="scenario key"):
        Scenario(key=key, input={})


def test_scenarios_are_frozen() -> None:
    scenario = Scenario(key="a", input={})
    with pytest.raises(ValueError):
        scenario.key = "b"


def test_run_name_is_tag_slash_key_or_the_override() -> None:
    assert run_name("sweep-1", Scenario(key="inst-7/fast", input={})) == "sweep-1/inst-7/fast"
    assert run_name("sweep-1", Scenario(key="k", input={}, name="mine")) == "mine"


def test_long_run_names_are_cut_with_a_hash_and_stay_distinct() -> None:
    a = Scenario(key="k" * 190 + "a", input={})
    b = Scenario(key="k" * 190 + "b", input={})
    name_a, name_b = run_name("tag", a), run_name("tag", b)
    assert len(name_a) == len(name_b) == MAX_RUN_NAME_LENGTH
    assert name_a != name_b
    assert name_a == run_name("tag", a)  # deterministic
    assert name_a.startswith("tag/kkk")


def test_sources_files_directories_and_manifests(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    Path("inputs").mkdir()
    Path("inputs/a.json").write_text('{"x": 1}')
    Path("inputs/b.txt").write_text("hello")
    Path("multi").mkdir()
    Path("multi/data.csv").write_text("a,b\n")
    Path("m.jsonl").write_text(
        json.dumps({"key": "m1", "input": {"y": 2}, "options": {"seed": "3"}})
        + "\n\n"
        + json.dumps({"key": "m2", "input_file": "inputs/a.json", "instance_id": "v2"})
        + "\n"
    )
    scenarios = list(
        from_sources(
            ["inputs/a.json", "inputs/b.txt", "multi", "m.jsonl"],
            base={"options": {"solve.duration": "1s"}, "instance_id": "latest"},
        )
    )
    keys = [s.key for s in scenarios]
    assert keys == ["inputs/a", "inputs/b", "multi", "m1", "m2"]
    assert scenarios[0].input_file == Path("inputs/a.json")
    assert scenarios[2].dir_path == Path("multi")
    assert scenarios[3].options == {"solve.duration": "1s", "seed": "3"}
    assert scenarios[3].instance_id == "latest"
    assert scenarios[4].input_file == Path("inputs/a.json")  # relative to the manifest
    assert scenarios[4].instance_id == "v2"


def test_a_missing_source_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not a file or a directory"):
        list(from_sources([tmp_path / "nope.json"]))


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("{not json", "not valid JSON"),
        ("[1, 2]", "JSON object"),
        ('{"key": "a", "input": {}, "colour": 1}', "unknown fields"),
        ('{"key": "a"}', "exactly one"),
    ],
)
def test_bad_manifest_lines_name_their_line(tmp_path: Path, line: str, message: str) -> None:
    manifest = tmp_path / "m.jsonl"
    manifest.write_text('{"key": "ok", "input": {}}\n' + line + "\n")
    with pytest.raises(ConfigError, match=message) as info:
        list(from_manifest(manifest))
    assert "m.jsonl:2" in str(info.value)


def test_manifests_are_read_lazily(tmp_path: Path) -> None:
    manifest = tmp_path / "m.jsonl"
    manifest.write_text('{"key": "a", "input": {}}\n{broken\n')
    first = next(from_manifest(manifest))  # the broken second line is not read yet
    assert first.key == "a"


def test_grid_is_the_cartesian_product_with_key_suffixes() -> None:
    base = [Scenario(key="inst-7", input={"i": 7}, options={"keep": "1"})]
    grid = [parse_grid("solve.duration=10s,20s"), parse_grid("seed=1,2,3")]
    out = list(with_grid(base, grid))
    assert len(out) == 6
    assert out[0].key == "inst-7/solve.duration=10s,seed=1"
    assert out[-1].key == "inst-7/solve.duration=20s,seed=3"
    assert out[-1].options == {"keep": "1", "solve.duration": "20s", "seed": "3"}
    assert len({s.key for s in out}) == 6


def test_grid_over_an_endless_source_stays_lazy() -> None:
    endless = (Scenario(key=f"s{i}", input={"i": i}) for i in itertools.count())
    first = list(itertools.islice(with_grid(endless, [("seed", ["1", "2"])]), 5))
    assert [s.key for s in first] == [
        "s0/seed=1",
        "s0/seed=2",
        "s1/seed=1",
        "s1/seed=2",
        "s2/seed=1",
    ]


@pytest.mark.parametrize("text", ["novalue", "=1,2", "seed=", "seed=,"])
def test_bad_grids_are_config_errors(text: str) -> None:
    with pytest.raises(ConfigError):
        parse_grid(text)
