"""Where the web metric provider may connect: an egress policy checked on every address.

A metric's URL is written by whoever may write an AnalysisTemplate, and the controller runs
with the cluster credentials and network position of a controller; so by default it does not
fetch loopback (its own health and metrics ports, a sidecar's admin API), link-local
(169.254.0.0/16, fe80::/10: cloud metadata services live there), the unspecified addresses,
or the well-known metadata endpoints by address and by name. Everything else is allowed.

The ConfigMap adjusts that (`analysis.web.allow` / `deny`, see `rolloutd.analysis.settings`):
each rule is a CIDR (``10.0.0.0/8``, ``::1/128``), an address, or a host name (exact, or
``*.example.com`` for any name under it; names compare case-insensitively). Precedence: an
explicit `deny` always wins; then an explicit `allow`; then the default denials; then allowed.

A host name is judged by its name and by every address it resolves to (a name that resolves to
169.254.169.254 is refused like the address itself); the connection is made only to addresses
that passed (`PolicyResolver`), so a DNS answer cannot change between check and connect.
Redirects are followed by the provider one hop at a time, each checked again.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.resolver import ThreadedResolver

__all__ = ["DEFAULT_DENY", "EgressDenied", "EgressPolicy", "PolicyResolver", "parse_rule"]

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

DEFAULT_DENY: tuple[str, ...] = (
    "127.0.0.0/8",
    "::1/128",
    "169.254.0.0/16",
    "fe80::/10",
    "0.0.0.0/8",
    "::/128",
    "fd00:ec2::254/128",  # AWS metadata over IPv6
    "100.100.100.200/32",  # Alibaba Cloud metadata
    "metadata.google.internal",
    "metadata",
    "localhost",
    "*.localhost",
)


class EgressDenied(OSError):
    """The policy refuses this host or address; the message says which rule."""


@dataclass(frozen=True)
class _Rule:
    text: str
    network: IPNetwork | None = None
    host: str | None = None
    """An exact host name, or ``.suffix`` for ``*.suffix``."""

    def matches_address(self, address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
        return (
            self.network is not None
            and address.version == self.network.version
            and (address in self.network)
        )

    def matches_host(self, host: str) -> bool:
        if self.host is None:
            return False
        if self.host.startswith("."):
            return host.endswith(self.host)
        return host == self.host


def parse_rule(text: str) -> _Rule:
    """One allow/deny entry; raises ValueError naming it when it is neither CIDR nor name."""
    raw = str(text).strip()
    if not raw:
        raise ValueError("an empty entry is not a CIDR or host name")
    try:
        return _Rule(raw, network=ipaddress.ip_network(raw, strict=False))
    except ValueError:
        pass
    name = raw.lower().rstrip(".")
    suffix = name.startswith("*.")
    label = name[2:] if suffix else name
    if not label or any(not part or not _is_label(part) for part in label.split(".")):
        raise ValueError(f"{raw!r} is not a CIDR, an address or a host name (or *.domain)")
    return _Rule(raw, host=f".{label}" if suffix else label)


def _is_label(part: str) -> bool:
    return len(part) <= 63 and all(c.isalnum() or c in "-_" for c in part)


def _address(host: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        address = ipaddress.ip_address(host.strip("[]").split("%", 1)[0])
    except ValueError:
        return None
    # ::ffff:127.0.0.1 is 127.0.0.1: judged by the IPv4 rules, or the mapping would bypass them.
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


@dataclass(frozen=True)
class EgressPolicy:
    allow: tuple[_Rule, ...] = ()
    deny: tuple[_Rule, ...] = ()
    defaults: tuple[_Rule, ...] = field(default=tuple(parse_rule(r) for r in DEFAULT_DENY))

    @classmethod
    def from_settings(cls, settings: Mapping[str, Any]) -> EgressPolicy:
        """The policy from the web provider's settings (`allow`, `deny` lists)."""
        allow = settings.get("allow") or ()
        deny = settings.get("deny") or ()
        return cls(tuple(parse_rule(r) for r in allow), tuple(parse_rule(r) for r in deny))

    def check_host(self, host: str) -> None:
        """Judge a URL's host (a name or an address literal); raises EgressDenied."""
        name = host.lower().rstrip(".")
        address = _address(name)
        if address is not None:
            self.check_address(address, name)
            return
        verdict = self._verdict(lambda rule: rule.matches_host(name))
        if verdict is not None:
            raise EgressDenied(f"host {name!r} is denied by the egress policy ({verdict})")

    def check_address(
        self, address: ipaddress.IPv4Address | ipaddress.IPv6Address, host: str = ""
    ) -> None:
        """Judge one address a connection would go to; raises EgressDenied."""
        name = host.lower().rstrip(".")

        def matches(rule: _Rule) -> bool:
            return rule.matches_address(address) or bool(name and rule.matches_host(name))

        verdict = self._verdict(matches)
        if verdict is not None:
            shown = f"{name!r} ({address})" if name and name != str(address) else str(address)
            raise EgressDenied(f"address {shown} is denied by the egress policy ({verdict})")

    def _verdict(self, matches: Callable[[_Rule], bool]) -> str | None:
        """None when allowed, else which rule denies."""
        for rule in self.deny:
            if matches(rule):
                return f"analysis.web.deny entry {rule.text!r}"
        if any(matches(rule) for rule in self.allow):
            return None
        for rule in self.defaults:
            if matches(rule):
                return (
                    f"denied by default: {rule.text}; add it to analysis.web.allow in the "
                    "rolloutd-config ConfigMap to permit it"
                )
        return None


class PolicyResolver(AbstractResolver):
    """Resolves through the system resolver and drops nothing silently: if any address of
    the answer is denied, the whole name is (a name half-pointing at metadata is hostile)."""

    def __init__(self, policy: EgressPolicy, inner: AbstractResolver | None = None) -> None:
        self.policy = policy
        self.inner = inner or ThreadedResolver()
        self.denied: EgressDenied | None = None
        """The last refusal, so the provider can report it instead of a connector error."""

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        answers = await self.inner.resolve(host, port, family)
        try:
            self.policy.check_host(host)
            for address in _addresses(answers):
                self.policy.check_address(address, host)
        except EgressDenied as exc:
            self.denied = exc
            raise
        return answers

    async def close(self) -> None:
        await self.inner.close()


def _addresses(
    answers: Iterable[ResolveResult],
) -> Sequence[ipaddress.IPv4Address | ipaddress.IPv6Address]:
    found = []
    for answer in answers:
        address = _address(str(answer["host"]))
        if address is not None:
            found.append(address)
    return found
