"""Each bad request to the custom-app endpoints gets its clear error and changes nothing."""

from __future__ import annotations

import tarfile
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from typing import Any

import pytest

from asyncrun.emulator import ThreadedEmulator

from .support import (
    ACTIVATION,
    api,
    file_member,
    link_member,
    raw_push,
    registry_state,
    targz,
)

MAIN = {"main.py": b"print('{}')\n"}
RULE = "3-30 lowercase letters, digits, '.' or '-', not starting or ending with '.' or '-'"


@pytest.fixture
def emu(
    emulator_thread_factory: Callable[..., AbstractContextManager[ThreadedEmulator]],
) -> Iterator[ThreadedEmulator]:
    with emulator_thread_factory() as running:
        # One app with a push, a version and an instance: every refusal must leave it alone.
        assert api(running.url, "POST", "/v1/applications", {"id": "base-app"}).ok
        assert raw_push(running.url, "base-app", targz([file_member("main.py")], MAIN)).ok
        path = "/v1/applications/base-app"
        assert api(running.url, "POST", path + "/versions", {"id": "v1"}).ok
        assert api(running.url, "POST", path + "/instances", {"id": "i1", "version_id": "v1"}).ok
        yield running


def refused(emu: ThreadedEmulator, status: int, words: str, call: Callable[[], Any]) -> None:
    before = registry_state(emu.url)
    answer = call()
    assert answer.status_code == status, answer.text
    assert words in answer.json()["error"]
    assert registry_state(emu.url) == before


@pytest.mark.parametrize(
    "bad_id",
    [
        "ab",  # too short
        "a" * 31,  # too long
        "My-App",  # uppercase
        "my_app",  # underscore
        "-my-app",  # starts with a hyphen
        "my-app.",  # ends with a period
        ".my-app",  # starts with a period
        "my-app-",  # ends with a hyphen
    ],
)
def test_each_clause_of_the_app_id_rule(emu: ThreadedEmulator, bad_id: str) -> None:
    refused(emu, 400, RULE, lambda: api(emu.url, "POST", "/v1/applications", {"id": bad_id}))


def test_ids_at_the_rule_edges_are_accepted(emu: ThreadedEmulator) -> None:
    for good in ("abc", "a" * 30, "a.b-c9", "0ab"):
        assert api(emu.url, "POST", "/v1/applications", {"id": good}).ok


def test_duplicates_are_409(emu: ThreadedEmulator) -> None:
    base = "/v1/applications/base-app"
    refused(
        emu,
        409,
        "'base-app' already exists",
        lambda: api(emu.url, "POST", "/v1/applications", {"id": "base-app"}),
    )
    refused(
        emu,
        409,
        "version 'v1' already exists",
        lambda: api(emu.url, "POST", base + "/versions", {"id": "v1"}),
    )
    refused(
        emu,
        409,
        "instance 'i1' already exists",
        lambda: api(emu.url, "POST", base + "/instances", {"id": "i1", "version_id": "v1"}),
    )


def test_unknown_app_version_instance_are_404_saying_which(emu: ThreadedEmulator) -> None:
    base = "/v1/applications/base-app"
    refused(
        emu,
        404,
        "application 'no-app' not found",
        lambda: api(emu.url, "GET", "/v1/applications/no-app"),
    )
    refused(
        emu,
        404,
        "application 'no-app' not found",
        lambda: api(emu.url, "PUT", "/v1/applications/no-app", {"name": "x"}),
    )
    refused(
        emu,
        404,
        "version 'v9' not found in application 'base-app'",
        lambda: api(emu.url, "GET", base + "/versions/v9"),
    )
    refused(
        emu,
        404,
        "version 'v9' not found",
        lambda: api(emu.url, "POST", base + "/instances", {"id": "i2", "version_id": "v9"}),
    )
    refused(
        emu,
        404,
        "version 'v9' not found",
        lambda: api(emu.url, "PUT", base + "/instances/i1", {"version_id": "v9"}),
    )
    refused(
        emu,
        404,
        "instance 'i9' not found in application 'base-app'",
        lambda: api(emu.url, "DELETE", base + "/instances/i9"),
    )
    refused(
        emu,
        404,
        "instance 'i9' not found",
        lambda: api(emu.url, "PUT", base, {"default_instance": "i9"}),
    )
    refused(
        emu,
        404,
        "instance 'i9' not found in application 'base-app'",
        lambda: api(emu.url, "POST", base + "/runs?instance_id=i9", {"input": {}}),
    )


def test_version_in_use_and_default_instance_are_409(emu: ThreadedEmulator) -> None:
    base = "/v1/applications/base-app"
    refused(
        emu,
        409,
        "version 'v1' is used by instance(s) i1",
        lambda: api(emu.url, "DELETE", base + "/versions/v1"),
    )
    assert api(emu.url, "PUT", base, {"default_instance": "i1"}).ok
    refused(emu, 409, "default instance", lambda: api(emu.url, "DELETE", base + "/instances/i1"))


def test_reserved_instance_ids_and_bad_entity_ids(emu: ThreadedEmulator) -> None:
    path = "/v1/applications/base-app/instances"
    for reserved in ("devint", "latest"):
        refused(
            emu,
            400,
            "reserved",
            lambda r=reserved: api(emu.url, "POST", path, {"id": r, "version_id": "v1"}),
        )
    refused(
        emu,
        400,
        "invalid version id 'V1'",
        lambda: api(emu.url, "POST", "/v1/applications/base-app/versions", {"id": "V1"}),
    )


def test_version_before_any_push_is_refused(emu: ThreadedEmulator) -> None:
    assert api(emu.url, "POST", "/v1/applications", {"id": "empty-app"}).ok
    refused(
        emu,
        400,
        "no executable yet: push one",
        lambda: api(emu.url, "POST", "/v1/applications/empty-app/versions", {"id": "v1"}),
    )


@pytest.mark.parametrize(
    ("members", "words"),
    [
        ([file_member("main.py"), file_member("../evil.py")], "would land outside"),
        ([file_member("main.py"), file_member("a/../../evil.py")], "would land outside"),
        ([file_member("main.py"), file_member("/etc/evil.py")], "absolute path"),
        ([file_member("main.py"), link_member("data", "../../etc/passwd")], "links outside"),
        ([file_member("main.py"), link_member("abs", "/etc/passwd")], "links outside"),
        ([file_member("main.py"), link_member("hard", "../x", hard=True)], "links outside"),
        ([file_member("other.py")], "entrypoint 'main.py' is not a file"),
    ],
)
def test_bad_archives_are_refused_at_push_time(
    emu: ThreadedEmulator, members: list[tarfile.TarInfo], words: str
) -> None:
    data = {"main.py": b"print(1)\n", "../evil.py": b"x", "a/../../evil.py": b"x",
            "/etc/evil.py": b"x", "other.py": b"x"}  # fmt: skip
    refused(emu, 400, words, lambda: raw_push(emu.url, "base-app", targz(members, data)))
    # Nothing was unpacked for the refused push: only the base app's one binary exists.
    root = emu.state.storage.path("executables")
    assert len(list(root.iterdir())) == 1


def test_not_a_targz_and_bad_activation(emu: ThreadedEmulator) -> None:
    refused(emu, 400, "not a valid tar.gz", lambda: raw_push(emu.url, "base-app", b"zzz"))
    archive = targz([file_member("main.py")], MAIN)
    bad: dict[str, Any] = {"requirements": dict(ACTIVATION["requirements"], executable_type="x")}
    refused(
        emu,
        400,
        "executable_type must be one of",
        lambda: raw_push(emu.url, "base-app", archive, bad),
    )
    outside = {"requirements": dict(ACTIVATION["requirements"], entrypoint="../main.py")}
    refused(
        emu,
        400,
        "must stay inside the app directory",
        lambda: raw_push(emu.url, "base-app", archive, outside),
    )


def test_strict_apps_answer_404_for_runs_of_unknown_apps(
    emulator_thread_factory: Callable[..., AbstractContextManager[ThreadedEmulator]],
) -> None:
    with emulator_thread_factory(auto_create_apps=False) as emu:
        answer = api(emu.url, "POST", "/v1/applications/ghost-app/runs", {"input": {}})
        assert answer.status_code == 404
        assert answer.json()["error"] == "application 'ghost-app' not found"
        assert api(emu.url, "GET", "/v1/applications/ghost-app/runs").status_code == 404
        assert registry_state(emu.url) == {}


def test_by_default_a_run_creates_its_app_on_first_use(emu: ThreadedEmulator) -> None:
    bad = api(emu.url, "POST", "/v1/applications/fresh-app/runs", {"options": {"a": 1}})
    assert bad.status_code == 400 and "fresh-app" not in registry_state(emu.url)
    answer = api(emu.url, "POST", "/v1/applications/fresh-app/runs?instance_id=any", {"input": {}})
    assert answer.ok
    assert registry_state(emu.url)["fresh-app"]["auto"] is True
