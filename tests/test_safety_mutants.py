"""The address guard's edges that mutation testing (``make mutation MODULES=crawlers/safety.py``) showed
no other test pinned: each test here failed on a mutant of crawlers/safety.py that the rest of the suite
let through. Expected addresses are computed by hand (or with plain ``ipaddress``), never by the guard.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence

import pytest

from crawlers.errors import BlockedAddress
from crawlers.safety import AddressGuard, HostUnresolvable, parse_ip_literal


def _dns(answer: str) -> AddressGuard:
    def resolve(host: str) -> Sequence[str]:
        if host != "example.org":
            raise HostUnresolvable(f"NXDOMAIN {host}")
        return [answer]

    return AddressGuard.build(allow_private=False, resolver=resolve)


@pytest.mark.parametrize("url", ["http://1.2.3.256/", "http://1.16777216/", "http://1.2.65536/",
                                 "http://4294967296/", "http://1.2.3.1023/"])
def test_an_ipv4_spelling_past_its_range_is_refused_not_wrapped(url: str) -> None:
    """``1.2.3.256`` is not 1.2.4.0: WHATWG says a last part of 256 or more (with three parts before
    it) is invalid. A guard that wrapped it would fetch an address nobody wrote."""
    with pytest.raises(BlockedAddress, match="out of range"):
        AddressGuard.build(allow_private=True).check(url)


@pytest.mark.parametrize(("host", "expected"), [
    ("1.255.2.3", "1.255.2.3"),        # 255 is a valid leading part
    ("255.1.2.3", "255.1.2.3"),
    ("1.2.65535", "1.2.255.255"),      # 2**16 - 1, the largest last part of an a.b.c spelling
    ("1.16777215", "1.255.255.255"),   # 2**24 - 1 in an a.b spelling
    ("1.2.3.255", "1.2.3.255"),
    ("1.012345670", str(ipaddress.IPv4Address((1 << 24) + 0o12345670))),  # every octal digit once
])
def test_ipv4_spellings_at_the_edge_of_their_range_are_read(host: str, expected: str) -> None:
    assert parse_ip_literal(host) == ipaddress.IPv4Address(expected)


def test_a_public_address_with_a_255_part_passes_the_guard() -> None:
    checked = AddressGuard.build(allow_private=False).check("http://8.255.8.8/")
    assert [str(a) for a in checked.addresses] == ["8.255.8.8"]


def test_the_scheme_named_in_the_refusal_is_the_one_in_the_url() -> None:
    with pytest.raises(BlockedAddress, match="'ftp' scheme, only http and https"):
        AddressGuard.build(allow_private=True).check("ftp://example.org/file")
    with pytest.raises(BlockedAddress, match="no scheme"):
        AddressGuard.build(allow_private=True).check("//example.org/file")


@pytest.mark.parametrize(("url", "header"), [
    ("https://example.org:80/", "example.org:80"),   # a port below the scheme's default is still shown
    ("http://example.org:22/", "example.org:22"),
    ("https://example.org:8443/", "example.org:8443"),
    ("https://example.org/", "example.org"),
])
def test_the_host_header_names_every_non_default_port(url: str, header: str) -> None:
    assert _dns("93.184.215.14").check(url).host_header == header


def test_a_scoped_ipv6_literal_keeps_its_address_as_host() -> None:
    """The zone id (``%25eth0``) is not the host: the Host header and TLS name are the address."""
    checked = AddressGuard.build(allow_private=True).check("http://[fe80::1%25eth0]:8080/x")
    assert checked.host == "fe80::1"
    assert checked.host_header == "[fe80::1]:8080"


def test_an_invalid_international_name_is_refused_naming_the_whole_url() -> None:
    url = "http://ex\u00e4mple\u200d.org/page"
    with pytest.raises(BlockedAddress, match="invalid international host name") as refused:
        AddressGuard.build(allow_private=True).check(url)
    assert repr(url) in str(refused.value)


@pytest.mark.parametrize("url", ["http://a\u00e9.1/", "http://a\u00e9.\uff11/"])
def test_a_name_ending_in_a_number_is_refused_even_when_punycode_sorts_after_it(url: str) -> None:
    """``aé.１`` (full-width one) becomes ``xn--a-9fa.1`` once IDNA-mapped: its last label is then a
    number, so (as in a browser) it is a malformed IPv4 address, refused, and never looked up in DNS."""
    with pytest.raises(BlockedAddress, match="malformed IPv4 address"):
        _dns("93.184.215.14").check(url)


def test_a_name_starting_with_a_number_is_a_name() -> None:
    guard = AddressGuard.build(allow_private=False, resolver=lambda host: {"1.example.org": ["93.184.215.14"]}[host])
    checked = guard.check("http://1.example.org/")
    assert (checked.host, checked.is_ip_literal) == ("1.example.org", False)
    assert [str(a) for a in checked.addresses] == ["93.184.215.14"]


def test_an_ip_literal_is_marked_as_one() -> None:
    """Whether the host is an address decides whether TLS sends it as the server name."""
    assert AddressGuard.build(allow_private=False).check("https://8.8.8.8/").is_ip_literal is True
    assert _dns("93.184.215.14").check("https://example.org/").is_ip_literal is False


def test_a_host_name_with_an_empty_label_is_refused() -> None:
    with pytest.raises(BlockedAddress, match="malformed host name"):
        _dns("93.184.215.14").check("http://example..org/")


@pytest.mark.parametrize("url", ["http://1.2.3.4.0/", "http://8.8.8.8.0/"])
def test_five_numeric_labels_are_a_malformed_address(url: str) -> None:
    with pytest.raises(BlockedAddress, match="malformed IPv4 address"):
        AddressGuard.build(allow_private=True).check(url)


def test_a_checked_url_cannot_be_altered_after_the_check() -> None:
    """What was checked is what is fetched: a CheckedURL whose host or addresses could be reassigned
    after the check would reopen the door the guard closes."""
    import dataclasses

    checked = _dns("93.184.215.14").check("https://example.org/")
    with pytest.raises(dataclasses.FrozenInstanceError):
        checked.addresses = (ipaddress.IPv4Address("127.0.0.1"),)  # type: ignore[misc]


def test_the_connection_goes_to_the_first_checked_answer() -> None:
    """The resolver's order is kept: the first answer is the one connected to by default."""
    guard = AddressGuard.build(allow_private=False,
                               resolver=lambda host: ["93.184.215.14", "93.184.215.15"])
    checked = guard.check("https://example.org/page?q=1")
    assert checked.connect_url() == "https://93.184.215.14/page?q=1"
    assert checked.connect_url(ipaddress.IPv4Address("93.184.215.15")) == "https://93.184.215.15/page?q=1"


def test_allow_private_cannot_be_passed_by_position() -> None:
    """Turning the guard off must be spelled out (``allow_private=True``), never a bare ``True``."""
    from crawlers.safety import check_url

    with pytest.raises(TypeError):
        check_url("http://127.0.0.1/", True)  # type: ignore[misc]
    with pytest.raises(TypeError):
        AddressGuard.build(True)  # type: ignore[misc]


def test_a_guard_built_without_options_refuses_private_addresses() -> None:
    """The default is the safe one: only a caller that asks for it may reach private addresses."""
    with pytest.raises(BlockedAddress, match="loopback"):
        AddressGuard().check("http://127.0.0.1/")
    guard = AddressGuard()
    with pytest.raises(AttributeError):  # and a guard's policy cannot be switched off afterwards
        guard.allow_private = True  # type: ignore[misc]
    assert guard.allow_private is False


@pytest.mark.parametrize("host", ["1:2:3", "fe80::zz", "::1::2"])
def test_a_malformed_ipv6_host_is_refused_as_such(host: str) -> None:
    """A colon means an IPv6 literal; one that does not parse is a refusal, never a crash."""
    with pytest.raises(BlockedAddress, match="malformed IPv6 address"):
        parse_ip_literal(host, f"http://[{host}]/")


@pytest.mark.parametrize(("url", "connect", "header"), [
    ("https://example.org:443/x", "https://93.184.215.14/x", "example.org"),  # the default port, written out
    ("http://example.org:80/x", "http://93.184.215.14/x", "example.org"),
    ("https://example.org:8443/x", "https://93.184.215.14:8443/x", "example.org:8443"),
    ("https://example.org:80/x", "https://93.184.215.14:80/x", "example.org:80"),  # below the default
])
def test_a_written_out_default_port_is_the_default_port(url: str, connect: str, header: str) -> None:
    checked = _dns("93.184.215.14").check(url)
    assert (checked.connect_url(), checked.host_header) == (connect, header)


@pytest.mark.parametrize("ip", ["64:ff9b::a9fe:a9fe",   # NAT64 of 169.254.169.254, the cloud metadata address
                                "64:ff9b::c0a8:101",    # of 192.168.1.1
                                "64:ff9b::a00:1"])      # of 10.0.0.1
def test_a_nat64_address_is_judged_by_exactly_the_ipv4_address_inside(ip: str) -> None:
    """DNS64 answers 64:ff9b::<IPv4>; the guard must read those 32 bits as they are, so a private
    address inside stays private (mixing the prefix into it would turn 169.254.169.254 into a public
    170.99.169.153)."""
    from crawlers.safety import is_public_ip

    assert not is_public_ip(ip)
    assert is_public_ip("64:ff9b::808:808")  # 8.8.8.8 inside: public
