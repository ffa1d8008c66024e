"""Address guard: which URLs a crawler may fetch.

Watched communities and the leads found in their posts are attacker-controlled URLs. Without a
guard, a post linking to ``http://169.254.169.254/`` or ``http://localhost:9200/`` would make the
crawler fetch cloud metadata or our own Elasticsearch (server-side request forgery). So every URL
is checked before any connection, and again on every redirect hop:

- the scheme must be http or https;
- the host must be present and well formed;
- every address the host resolves to must be public (see :func:`is_public_ip`). One private
  answer is enough to refuse: a name that resolves to both a public and a private address is a
  classic way to slip past a guard that checks only the first answer.

IP literals are parsed the way browsers and ``inet_aton`` do (WHATWG URL rules), so that
``http://2130706433/``, ``http://0177.0.0.1/``, ``http://0x7f.1/`` and ``http://127.1/`` are all
recognised as 127.0.0.1 instead of being passed to DNS as names.

DNS rebinding: a name can resolve to a public address when checked and to a private one when the
HTTP library resolves it again a moment later. :class:`crawlers.http.SafeHttpClient` therefore
connects to the very address this module checked (it does not resolve twice); see
:meth:`CheckedURL.connect_url`. Scrapy resolves names itself, so its middleware
(:mod:`crawlers.scrapy_safety`) also installs a resolver that refuses non-public answers.

``allow_private`` turns the address check off (tests and the demo run on loopback);
``allowed_networks`` exempts specific networks, which lets a test allow 127.0.0.1 while still
proving that a redirect to 127.0.0.2 is refused.
"""

from __future__ import annotations

import ipaddress
import re
import socket
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from urllib.parse import SplitResult, urlsplit

import idna

from crawlers.errors import BlockedAddress, TransientError

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

#: host name -> IP address strings. Raises :class:`HostUnresolvable` when there is no answer.
Resolver = Callable[[str], Sequence[str]]

ALLOWED_SCHEMES = frozenset({"http", "https"})
DEFAULT_PORTS = {"http": 80, "https": 443}

# Ranges refused in addition to what ``ipaddress`` flags, so that the policy does not depend on
# the Python patch release (the stdlib tables changed in 3.11.10/3.12.4/3.13).
_EXTRA_BLOCKED: tuple[IPNetwork, ...] = tuple(
    ipaddress.ip_network(n)
    for n in (
        "0.0.0.0/8",  # "this network"
        "100.64.0.0/10",  # carrier-grade NAT
        "192.0.0.0/24",  # IETF protocol assignments
        "192.88.99.0/24",  # 6to4 relay anycast (deprecated)
        "198.18.0.0/15",  # benchmarking
        "224.0.0.0/4",  # multicast
        "240.0.0.0/4",  # reserved, and 255.255.255.255
        "64:ff9b:1::/48",  # local-use NAT64
        "100::/64",  # discard-only
        "2001::/23",  # IETF protocol assignments (includes Teredo 2001::/32)
        "2001:db8::/32",  # documentation
        "fc00::/7",  # unique local
        "fec0::/10",  # site-local (deprecated)
        "fe80::/10",  # link-local
        "ff00::/8",  # multicast
    )
)
_NAT64 = ipaddress.ip_network("64:ff9b::/96")


class HostUnresolvable(TransientError):
    """The host name has no address right now (NXDOMAIN, resolver failure). Not a policy refusal:
    the host may be gone for good or DNS may be flaky; repeated observations decide."""


def is_public_ip(ip: str | IPAddress) -> bool:
    """Whether ``ip`` is a globally routable unicast address a crawler may connect to.

    IPv6 addresses that embed an IPv4 address are judged by it: IPv4-mapped ``::ffff:a.b.c.d`` and
    NAT64 ``64:ff9b::a.b.c.d`` (what DNS64 answers on IPv6-only hosts) by the embedded address
    alone, 6to4 ``2002:aabb:ccdd::`` by both.
    Teredo (2001::/32) is refused outright. A zone id (``fe80::1%eth0``) is ignored for the check.
    """
    if isinstance(ip, str):
        ip = ipaddress.ip_address(ip)
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.scope_id is not None:
            ip = ipaddress.IPv6Address(str(ip).split("%", 1)[0])
        if ip.ipv4_mapped is not None:
            return is_public_ip(ip.ipv4_mapped)
        if ip in _NAT64:  # what DNS64 answers on IPv6-only networks: judge the IPv4 inside
            return is_public_ip(ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF))
        if ip.sixtofour is not None and not is_public_ip(ip.sixtofour):
            return False
        if ip.is_site_local:
            return False
    if (
        ip.is_private
        or ip.is_loopback
        or ip.is_link_local
        or ip.is_multicast
        or ip.is_reserved
        or ip.is_unspecified
        or not ip.is_global
    ):
        return False
    return not any(ip.version == net.version and ip in net for net in _EXTRA_BLOCKED)


def system_resolver(host: str) -> list[str]:
    """Resolve ``host`` with the operating system (``socket.getaddrinfo``), all address families."""
    try:
        infos = socket.getaddrinfo(host, None, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError, OSError) as exc:
        raise HostUnresolvable(f"cannot resolve {host!r}: {exc}") from exc
    addresses = list(dict.fromkeys(str(info[4][0]) for info in infos))
    if not addresses:
        raise HostUnresolvable(f"cannot resolve {host!r}: no addresses")
    return addresses


@dataclass(frozen=True, slots=True)
class CheckedURL:
    """A URL that passed the guard, with the addresses it was checked against."""

    url: str
    scheme: str
    host: str  # normalised: lower case, IDNA (punycode), no trailing dot; canonical IP if a literal
    port: int
    addresses: tuple[IPAddress, ...]
    is_ip_literal: bool

    @property
    def host_header(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return host if self.port == DEFAULT_PORTS[self.scheme] else f"{host}:{self.port}"

    def connect_url(self, address: IPAddress | None = None) -> str:
        """The URL with its host replaced by a checked address, for connecting without a second
        DNS lookup (send :attr:`host_header` as Host and :attr:`host` as TLS SNI)."""
        address = address or self.addresses[0]
        parts = urlsplit(self.url)
        ip = f"[{address}]" if address.version == 6 else str(address)
        netloc = ip if self.port == DEFAULT_PORTS[self.scheme] else f"{ip}:{self.port}"
        path = parts.path or "/"
        return f"{self.scheme}://{netloc}{path}" + (f"?{parts.query}" if parts.query else "")


@dataclass(frozen=True)
class AddressGuard:
    """The guard with its policy. :func:`check_url` is the one-call form."""

    allow_private: bool = False
    resolver: Resolver = system_resolver
    allowed_networks: tuple[IPNetwork, ...] = field(default=())

    @classmethod
    def build(
        cls, *, allow_private: bool, resolver: Resolver | None = None, allowed_networks: Iterable[str | IPNetwork] = ()
    ) -> AddressGuard:
        return cls(
            allow_private=allow_private,
            resolver=resolver or system_resolver,
            allowed_networks=tuple(ipaddress.ip_network(n) for n in allowed_networks),
        )

    def address_allowed(self, ip: IPAddress) -> bool:
        if self.allow_private or is_public_ip(ip):
            return True
        return any(ip.version == net.version and ip in net for net in self.allowed_networks)

    def check(self, url: str) -> CheckedURL:
        """Return the checked URL or raise :class:`BlockedAddress` (policy refusal) or
        :class:`HostUnresolvable` (no DNS answer)."""
        parts = _split(url)
        scheme = parts.scheme.lower()
        if scheme not in ALLOWED_SCHEMES:
            shown = f"{scheme!r} scheme" if scheme else "no scheme"
            raise BlockedAddress(f"refused {url!r}: {shown}, only http and https are fetched")
        raw_host = parts.hostname  # lower-cased, brackets removed
        if not raw_host:
            raise BlockedAddress(f"refused {url!r}: no host")
        try:
            port = parts.port or DEFAULT_PORTS[scheme]
        except ValueError as exc:
            raise BlockedAddress(f"refused {url!r}: bad port ({exc})") from exc

        literal = parse_ip_literal(raw_host, url)
        if literal is None:
            # UTS 46 maps ideographic/fullwidth dots and digits to ASCII ("127。0。0。1"), and a
            # browser then reads the result as an address: so must we, not pass it to DNS.
            host = normalise_host_name(raw_host, url)
            literal = parse_ip_literal(host, url) if host != raw_host.rstrip(".") else None
        if literal is not None:
            addresses: tuple[IPAddress, ...] = (literal,)
            host = str(literal).split("%", 1)[0] if literal.version == 6 else str(literal)
        else:
            if host == "localhost" or host.endswith(".localhost"):
                # RFC 6761: always loopback, whatever a (possibly injected) resolver says.
                addresses = (ipaddress.IPv4Address("127.0.0.1"), ipaddress.IPv6Address("::1"))
            else:
                addresses = tuple(self._resolve(host, url))
        for ip in addresses:
            if not self.address_allowed(ip):
                how = "is" if literal is not None else f"resolves to {ip}, which is"
                raise BlockedAddress(f"refused {url!r}: host {host!r} {how} {_describe(ip)}")
        return CheckedURL(
            url=url, scheme=scheme, host=host, port=port, addresses=addresses, is_ip_literal=literal is not None
        )

    def _resolve(self, host: str, url: str) -> list[IPAddress]:
        try:
            answers = self.resolver(host)
        except HostUnresolvable as exc:
            raise HostUnresolvable(f"cannot resolve host of {url!r}: {exc}") from exc
        if not answers:
            raise HostUnresolvable(f"cannot resolve host of {url!r}: no addresses for {host!r}")
        addresses = []
        for answer in answers:
            try:
                addresses.append(ipaddress.ip_address(answer))
            except ValueError as exc:  # a resolver must answer addresses; refuse rather than guess
                raise BlockedAddress(f"refused {url!r}: resolver returned {answer!r} for {host!r}") from exc
        return addresses


def check_url(
    url: str, *, allow_private: bool, resolver: Resolver | None = None, allowed_networks: Iterable[str | IPNetwork] = ()
) -> None:
    """Raise :class:`BlockedAddress` unless ``url`` may be fetched (see module docs), or
    :class:`HostUnresolvable` if its host does not resolve."""
    AddressGuard.build(allow_private=allow_private, resolver=resolver, allowed_networks=allowed_networks).check(url)


# -- host parsing (pure) ---------------------------------------------------------------------

_IPV4_PART = re.compile(r"^(?:0[xX][0-9a-fA-F]*|[0-9]+)$")


def _split(url: str) -> SplitResult:
    try:
        return urlsplit(url.strip())
    except ValueError as exc:  # e.g. an unbalanced "[" in the netloc
        raise BlockedAddress(f"refused {url!r}: malformed URL ({exc})") from exc


def parse_ip_literal(host: str, url: str = "") -> IPAddress | None:
    """The address a host spells, or None for a name.

    Follows the WHATWG URL host parser: a host whose last label is numeric (decimal, ``0``-octal
    or ``0x``-hex) is an IPv4 address in any of the ``inet_aton`` forms (``a``, ``a.b``,
    ``a.b.c``, ``a.b.c.d``); one that does not parse is invalid, not a name.
    """
    shown = url or host
    if ":" in host:  # urlsplit only yields ":" in a hostname from a bracketed IPv6 literal
        try:
            return ipaddress.IPv6Address(host)
        except ValueError as exc:
            raise BlockedAddress(f"refused {shown!r}: malformed IPv6 address {host!r}") from exc
    labels = host.rstrip(".").split(".") if host.rstrip(".") else []
    if not labels or not _IPV4_PART.match(labels[-1]):
        return None
    if len(labels) > 4 or not all(_IPV4_PART.match(label) for label in labels):
        raise BlockedAddress(f"refused {shown!r}: malformed IPv4 address {host!r}")
    numbers = [_ipv4_number(label, shown) for label in labels]
    *head, last = numbers
    if any(n > 255 for n in head) or last >= 256 ** (5 - len(numbers)):
        raise BlockedAddress(f"refused {shown!r}: IPv4 address {host!r} out of range")
    value = last
    for i, n in enumerate(head):
        value += n << (8 * (3 - i))
    return ipaddress.IPv4Address(value)


def _ipv4_number(label: str, shown: str) -> int:
    if label[:2].lower() == "0x":
        return int(label[2:] or "0", 16)
    if len(label) > 1 and label.startswith("0"):
        if not set(label) <= set("01234567"):
            raise BlockedAddress(f"refused {shown!r}: {label!r} is not an octal number")
        return int(label, 8)
    return int(label)


def normalise_host_name(host: str, url: str = "") -> str:
    """Lower-case, IDNA-encoded (UTS 46), without a trailing dot; BlockedAddress if malformed."""
    name = host.rstrip(".").lower()
    if not name or ".." in name or any(c.isspace() or c in "%/\\@" for c in name):
        raise BlockedAddress(f"refused {url or host!r}: malformed host name {host!r}")
    if name.isascii():
        return name
    try:
        return idna.encode(name, uts46=True).decode("ascii")
    except idna.IDNAError as exc:
        raise BlockedAddress(f"refused {url or host!r}: invalid international host name ({exc})") from exc


def _describe(ip: IPAddress) -> str:
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return f"an IPv4-mapped address of {_describe(ip.ipv4_mapped)}"
    for flag, text in (
        ("is_loopback", "a loopback address"),
        ("is_link_local", "a link-local address"),
        ("is_multicast", "a multicast address"),
        ("is_unspecified", "the unspecified address"),
    ):
        if getattr(ip, flag):
            return text
    if ip.version == 4 and ip in ipaddress.ip_network("100.64.0.0/10"):
        return "a carrier-grade NAT address"
    if ip.is_private:
        return "a private address"
    return "not a public address"
