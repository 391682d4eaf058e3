"""Which proxy a URL goes through (asyncrun/_proxy.py): the environment read as urllib and
requests read it, NO_PROXY as urllib's proxy_bypass_environment matches it (plus CIDR blocks, as
requests does), explicit settings first, and a password that never shows."""

from __future__ import annotations

import urllib.request

import pytest
from counting_proxy import clear_proxy_env

from asyncrun import AsyncClient, ConfigError
from asyncrun._proxy import ProxyConfig, ProxyURL, bypasses, parse_proxy

SECRET = "pa:ss/wo@rd"  # percent-encoded in URLs below
ENCODED = "pa%3Ass%2Fwo%40rd"


def for_url(url: str, environ: dict[str, str]) -> ProxyURL | None:
    return ProxyConfig.resolve(None, trust_env=True, environ=environ).for_url(url)


def test_https_urls_take_https_proxy_and_http_urls_http_proxy() -> None:
    env = {"HTTPS_PROXY": "http://secure:3128", "HTTP_PROXY": "http://plain:8080"}
    assert for_url("https://api.cloud.nextmv.io/v1", env) == ProxyURL("secure", 3128)
    assert for_url("http://api.cloud.nextmv.io/v1", env) == ProxyURL("plain", 8080)


def test_all_proxy_is_the_fallback_of_either_scheme() -> None:
    env = {"ALL_PROXY": "http://every:3128", "HTTP_PROXY": "http://plain:8080"}
    assert for_url("https://api.example.com/", env) == ProxyURL("every", 3128)
    assert for_url("http://api.example.com/", env) == ProxyURL("plain", 8080)


@pytest.mark.parametrize("name", ["https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"])
def test_either_case_of_a_name_is_read(name: str) -> None:
    assert for_url("https://h.example/", {name: "p.example:3128"}) == ProxyURL("p.example", 3128)


def test_lower_case_wins_and_an_empty_lower_case_name_unsets_as_in_urllib(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    env = {"HTTPS_PROXY": "http://upper:1", "https_proxy": "http://lower:2"}
    assert for_url("https://h.example/", env) == ProxyURL("lower", 2)
    clear_proxy_env(monkeypatch)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert urllib.request.getproxies_environment()["https"] == "http://lower:2"
    unset = {"HTTPS_PROXY": "http://upper:1", "https_proxy": ""}
    assert for_url("https://h.example/", unset) is None


def test_upper_case_http_proxy_is_ignored_under_cgi_httpoxy() -> None:
    env = {"HTTP_PROXY": "http://injected:1", "REQUEST_METHOD": "GET"}
    assert for_url("http://h.example/", env) is None
    assert for_url("http://h.example/", {**env, "http_proxy": "http://mine:2"}) == ProxyURL(
        "mine", 2
    )


def test_no_proxy_exempts_urls_from_the_environment_proxy() -> None:
    env = {"HTTPS_PROXY": "http://p:3128", "NO_PROXY": "localhost,.internal.corp,10.0.0.0/8"}
    assert for_url("https://localhost:8710/", env) is None
    assert for_url("https://api.internal.corp/", env) is None
    assert for_url("https://10.2.3.4/", env) is None
    assert for_url("https://api.cloud.nextmv.io/", env) == ProxyURL("p", 3128)


def test_explicit_proxy_wins_over_the_environment_and_its_no_proxy() -> None:
    env = {"HTTPS_PROXY": "http://env:1", "NO_PROXY": "*"}
    config = ProxyConfig.resolve("http://explicit:2", trust_env=True, environ=env)
    assert config.for_url("https://h.example/") == ProxyURL("explicit", 2)


def test_trust_env_false_ignores_every_variable() -> None:
    env = {"HTTPS_PROXY": "http://env:1", "ALL_PROXY": "http://env:2"}
    config = ProxyConfig.resolve(None, trust_env=False, environ=env)
    assert not config.active
    assert config.for_url("https://h.example/") is None


# (host, port, NO_PROXY) -> bypass, each also checked against urllib's own reading.
URLLIB_CASES = [
    ("api.example.com", None, "*", True),
    ("api.example.com", None, "example.com", True),
    ("api.example.com", None, ".example.com", True),
    ("example.com", None, ".example.com", True),
    ("badexample.com", None, "example.com", False),
    ("api.example.com", None, "other.com, example.com", True),
    ("API.Example.COM", None, "example.com", True),
    ("api.example.com", 8443, "api.example.com:8443", True),
    ("api.example.com", 443, "api.example.com:8443", False),
    ("127.0.0.1", 8710, "127.0.0.1", True),
    ("127.0.0.1", 8710, "127.0.0.2", False),
    ("api.example.com", None, "", False),
    ("api.example.com", None, " , ,", False),
]


@pytest.mark.parametrize(("host", "port", "no_proxy", "expected"), URLLIB_CASES)
def test_no_proxy_matches_as_urllib_reads_it(
    host: str, port: int | None, no_proxy: str, expected: bool
) -> None:
    netloc = f"{host}:{port}" if port is not None else host
    assert urllib.request.proxy_bypass_environment(netloc, {"no": no_proxy}) is expected
    assert bypasses(host, port, no_proxy) is expected


@pytest.mark.parametrize(
    ("host", "no_proxy", "expected"),
    [
        ("10.1.2.3", "10.0.0.0/8", True),
        ("11.1.2.3", "10.0.0.0/8", False),
        ("192.168.1.7", "192.168.1.0/24,example.com", True),
        ("::1", "::1", True),
        ("::1", "[::1]", True),
        ("2001:db8::5", "2001:db8::/32", True),
        ("example.com", "10.0.0.0/8", False),
    ],
)
def test_no_proxy_reads_ip_addresses_and_cidr_blocks(
    host: str, no_proxy: str, expected: bool
) -> None:
    assert bypasses(host, None, no_proxy) is expected


def test_a_proxy_url_without_scheme_is_http_and_without_port_is_80() -> None:
    assert parse_proxy("proxy.corp:3128") == ProxyURL("proxy.corp", 3128)
    assert parse_proxy("http://proxy.corp") == ProxyURL("proxy.corp", 80)


def test_credentials_are_decoded_sent_as_basic_and_never_shown() -> None:
    proxy = parse_proxy(f"http://alice:{ENCODED}@proxy.corp:3128")
    assert (proxy.username, proxy.password) == ("alice", SECRET)
    assert proxy.authorization == "Basic YWxpY2U6cGE6c3Mvd29AcmQ="
    shown = f"{proxy!r} {proxy.shown} {ProxyConfig(explicit=proxy)!r}"
    assert SECRET not in shown and ENCODED not in shown
    assert "proxy.corp:3128" in shown


@pytest.mark.parametrize(
    ("url", "words"),
    [
        (f"socks5://alice:{ENCODED}@proxy:1080", "socks5:// proxies are not supported"),
        (f"https://alice:{ENCODED}@proxy:443", "https:// proxies are not supported"),
        (f"http://alice:{ENCODED}@proxy:99999", "not a proxy URL"),
        (f"http://alice:{ENCODED}@proxy:3128/path", "HOST[:PORT] only"),
        (f"http://alice:{ENCODED}@:3128", "has no host"),
    ],
)
def test_an_unusable_proxy_url_is_a_config_error_without_its_password(url: str, words: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_proxy(url, source="HTTPS_PROXY")
    assert words in str(caught.value)
    assert str(caught.value).startswith("HTTPS_PROXY: ")
    assert ENCODED not in str(caught.value) and SECRET not in str(caught.value)


def test_an_unusable_environment_proxy_fails_for_the_urls_it_applies_to_only() -> None:
    env = {"ALL_PROXY": "socks5://p:1080", "HTTPS_PROXY": "http://p:3128"}
    assert for_url("https://h.example/", env) == ProxyURL("p", 3128)
    with pytest.raises(ConfigError, match="ALL_PROXY: socks5:// proxies are not supported"):
        for_url("http://h.example/", env)


def test_the_client_refuses_a_bad_proxy_before_anything_is_sent() -> None:
    with pytest.raises(ConfigError, match="proxy: socks5:// proxies are not supported"):
        AsyncClient(api_key="k", url="https://h.example", proxy="socks5://p:1080")


async def test_the_client_refuses_a_bad_environment_proxy_on_enter(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    clear_proxy_env(monkeypatch)
    monkeypatch.setenv("HTTPS_PROXY", f"socks5://alice:{ENCODED}@p:1080")
    client = AsyncClient(api_key="k", url="https://h.example")
    with pytest.raises(ConfigError, match="HTTPS_PROXY: socks5://") as caught:
        async with client:
            pass
    assert ENCODED not in str(caught.value)
