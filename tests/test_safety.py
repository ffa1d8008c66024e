"""The address guard refuses every way of spelling a non-public address, and only those."""

from __future__ import annotations

import re
from collections.abc import Sequence

import pytest

from crawlers.errors import BlockedAddress, TransientError
from crawlers.safety import (
    AddressGuard,
    HostUnresolvable,
    Resolver,
    check_url,
    is_public_ip,
    parse_ip_literal,
    system_resolver,
)


def fake_dns(table: dict[str, Sequence[str]]) -> Resolver:
    def resolve(host: str) -> Sequence[str]:
        if host not in table:
            raise HostUnresolvable(f"NXDOMAIN {host}")
        return table[host]

    return resolve


PUBLIC_DNS = fake_dns({"example.org": ["93.184.215.14"], "forum.example": ["2606:4700::6810:85e5"]})


@pytest.mark.parametrize(
    "ip",
    [
        "127.0.0.1",
        "127.255.255.254",
        "10.0.0.1",
        "172.16.5.4",
        "172.31.255.255",
        "192.168.1.1",
        "169.254.169.254",
        "100.64.0.1",
        "100.127.255.254",
        "0.0.0.0",
        "0.1.2.3",
        "224.0.0.1",
        "239.255.255.250",
        "240.0.0.1",
        "255.255.255.255",
        "192.0.0.8",
        "192.0.2.10",
        "198.18.0.1",
        "::",
        "::1",
        "fe80::1",
        "fe80::1%eth0",
        "fc00::1",
        "fd12:3456::1",
        "fec0::1",
        "ff02::1",
        "ff0e::1",
        "::ffff:127.0.0.1",
        "::ffff:10.0.0.1",
        "::ffff:169.254.169.254",
        "::127.0.0.1",
        "2002:7f00:1::1",
        "2002:a00:1::",
        "2001:0:4136:e378:8000:63bf:3fff:fdd2",
        "2001:db8::1",
        "64:ff9b::7f00:1",
        "64:ff9b:1::1",
    ],
)
def test_non_public_addresses_are_not_public(ip: str) -> None:
    assert not is_public_ip(ip)


@pytest.mark.parametrize(
    "ip",
    [
        "8.8.8.8",
        "93.184.215.14",
        "1.1.1.1",
        "2606:4700::6810:85e5",
        "2001:4860:4860::8888",
        "::ffff:8.8.8.8",
        "2002:808:808::1",
        "64:ff9b::808:808",
    ],
)
def test_public_addresses_are_public(ip: str) -> None:
    assert is_public_ip(ip)


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("http://127.0.0.1/", "loopback"),
        ("http://2130706433/", "loopback"),  # decimal
        ("http://0177.0.0.1/", "loopback"),  # octal
        ("http://0x7f.1/", "loopback"),  # hex, short form
        ("http://0x7f000001/", "loopback"),
        ("http://127.1/", "loopback"),  # short form
        ("http://127.0.0.1./admin", "loopback"),  # trailing dot
        ("http://[::1]:9200/", "loopback"),
        ("http://[::ffff:127.0.0.1]/", "IPv4-mapped"),
        ("http://[::ffff:7f00:1]/", "IPv4-mapped"),
        ("http://[fe80::1%25eth0]/", "link-local"),
        ("http://[fe80::1%eth0]/", "link-local"),
        ("http://169.254.169.254/latest/meta-data/", "link-local"),
        ("http://0251.0376.0251.0376/", "link-local"),  # 169.254.169.254 in octal
        ("http://10.1.2.3:8080/", "private"),
        ("http://0xa.1/", "private"),
        ("http://192.168.0.1/", "private"),
        ("http://100.64.0.1/", "carrier-grade NAT"),
        ("http://[fc00::1]/", "private"),
        ("http://[2002:7f00:1::]/", "not a public"),  # 6to4 wrapping 127.0.0.1
        ("http://0.0.0.0/", "unspecified"),
        ("http://224.0.0.1/", "multicast"),
        ("http://user:secret@127.0.0.1/", "loopback"),
        ("HTTP://LOCALHOST/", "loopback"),
        ("http://localhost./", "loopback"),
        ("http://db.localhost/", "loopback"),
        # Found missing in the issue-13 review:
        ("http://127\u30020\u30020\u30021/", "loopback"),  # ideographic full stops, UTS 46 -> 127.0.0.1
        ("http://127\uff0e0\uff0e0\uff0e1/", "loopback"),  # fullwidth full stops
        ("http://\uff4c\uff4f\uff43\uff41\uff4c\uff48\uff4f\uff53\uff54/", "loopback"),  # fullwidth "localhost"
        ("http://LOCALHOST../", "loopback"),  # several trailing dots
        ("http://127.1./", "loopback"),  # short form and a trailing dot
        ("http://0x7f.1./", "loopback"),
        ("http://[::1%251]/", "loopback"),  # zone id on loopback
        ("http://[fe80::a9fe:a9fe%25en0]:8080/", "link-local"),
        ("http://[64:ff9b::7f00:1]/", "not a public"),  # NAT64 wrapping 127.0.0.1
        ("http://[::ffff:a9fe:a9fe]/", "IPv4-mapped"),  # 169.254.169.254
    ],
)
def test_private_hosts_are_refused_in_every_spelling(url: str, reason: str) -> None:
    with pytest.raises(BlockedAddress) as err:
        check_url(url, allow_private=False, resolver=PUBLIC_DNS)
    assert url in str(err.value)
    assert reason in str(err.value)


def test_names_the_system_resolves_to_loopback_are_refused() -> None:
    """ "localhost" is refused by name (RFC 6761), and a name whose real getaddrinfo answer is
    loopback is refused by that answer (resolved locally from /etc/hosts, no network)."""
    with pytest.raises(BlockedAddress, match="loopback"):
        check_url("http://localhost:8000/", allow_private=False)
    assert "127.0.0.1" in system_resolver("localhost")
    alias = AddressGuard.build(allow_private=False, resolver=lambda host: system_resolver("localhost"))
    with pytest.raises(BlockedAddress, match=re.escape("resolves to 127.0.0.1, which is a loopback address")):
        alias.check("http://alias.example/")


@pytest.mark.parametrize(
    "answers",
    [
        ["127.0.0.1"],
        ["10.0.0.7"],
        ["93.184.215.14", "10.0.0.7"],
        ["::1"],
        ["2606:4700::1", "fe80::1"],
        ["::ffff:192.168.1.1"],
    ],
)
def test_names_resolving_to_any_private_address_are_refused(answers: list[str]) -> None:
    resolver = fake_dns({"innocent.example": answers})
    with pytest.raises(BlockedAddress) as err:
        check_url("https://innocent.example/x", allow_private=False, resolver=resolver)
    assert "https://innocent.example/x" in str(err.value)
    assert "resolves to" in str(err.value)


@pytest.mark.parametrize(
    "url",
    [
        "file:///etc/passwd",
        "ftp://example.org/x",
        "gopher://example.org:70/_x",
        "javascript:alert(1)",
        "data:text/html,hi",
        "ws://example.org/",
        "//example.org/x",
        "example.org/x",
        "",
    ],
)
def test_non_http_schemes_are_refused(url: str) -> None:
    with pytest.raises(BlockedAddress, match="only http and https"):
        check_url(url, allow_private=True, resolver=PUBLIC_DNS)


@pytest.mark.parametrize(
    "url",
    [
        "http:///path",
        "http://",
        "https://:443/",
        "http://1.2.3.4.5/",
        "http://256.0.0.1/",
        "http://08.0.0.1/",
        "http://[::1/",
        "http://[not-ipv6]/",
        "http://example.org:99999/",
        "http://exa mple.org/",
    ],
)
def test_malformed_hosts_are_refused_with_the_url(url: str) -> None:
    with pytest.raises(BlockedAddress) as err:
        check_url(url, allow_private=True, resolver=PUBLIC_DNS)
    assert repr(url) in str(err.value)


def test_public_urls_pass() -> None:
    guard = AddressGuard.build(allow_private=False, resolver=PUBLIC_DNS)
    checked = guard.check("https://Example.ORG./t/123.json?page=2")
    assert checked.host == "example.org"
    assert checked.port == 443
    assert [str(a) for a in checked.addresses] == ["93.184.215.14"]
    assert checked.connect_url() == "https://93.184.215.14/t/123.json?page=2"
    assert checked.host_header == "example.org"
    v6 = guard.check("http://forum.example:8080/latest.json")
    assert v6.connect_url() == "http://[2606:4700::6810:85e5]:8080/latest.json"
    assert v6.host_header == "forum.example:8080"
    check_url("http://8.8.8.8/", allow_private=False, resolver=PUBLIC_DNS)
    check_url("http://134744072/", allow_private=False, resolver=PUBLIC_DNS)  # 8.8.8.8 in decimal


def test_international_names_are_resolved_in_punycode() -> None:
    asked: list[str] = []

    def resolver(host: str) -> list[str]:
        asked.append(host)
        return ["93.184.215.14"]

    check_url("https://bücher.example/", allow_private=False, resolver=resolver)
    assert asked == ["xn--bcher-kva.example"]


def test_allow_private_lets_loopback_through() -> None:
    check_url("http://127.0.0.1:8080/", allow_private=True)
    check_url("http://localhost/", allow_private=True)
    check_url("http://[::1]/", allow_private=True)


def test_allowed_networks_exempt_only_those_networks() -> None:
    guard = AddressGuard.build(allow_private=False, allowed_networks=["127.0.0.1/32"])
    guard.check("http://127.0.0.1:1234/")
    with pytest.raises(BlockedAddress, match=re.escape("127.0.0.2")):
        guard.check("http://127.0.0.2:1234/")
    with pytest.raises(BlockedAddress):
        guard.check("http://[::1]:1234/")


def test_unresolvable_host_is_transient_not_blocked() -> None:
    with pytest.raises(HostUnresolvable) as err:
        check_url("https://gone.example/x", allow_private=False, resolver=PUBLIC_DNS)
    assert isinstance(err.value, TransientError)
    assert not isinstance(err.value, BlockedAddress)
    assert "https://gone.example/x" in str(err.value)


def test_unresolvable_host_with_the_system_resolver() -> None:
    # .invalid never resolves (RFC 6761); the lookup fails locally without network.
    with pytest.raises(HostUnresolvable, match=re.escape("nothing.invalid")):
        check_url("http://nothing.invalid/", allow_private=False)


def test_a_resolver_answering_garbage_is_refused() -> None:
    with pytest.raises(BlockedAddress, match="resolver returned"):
        check_url("http://odd.example/", allow_private=False, resolver=lambda host: ["not-an-ip"])


def test_names_that_end_in_a_number_are_parsed_as_ipv4() -> None:
    assert parse_ip_literal("example.com") is None
    assert parse_ip_literal("1password.com") is None
    assert str(parse_ip_literal("0x7f.0.0.0x1")) == "127.0.0.1"
    assert str(parse_ip_literal("192.168.257")) == "192.168.1.1"  # a.b.c: last part is 16 bits
