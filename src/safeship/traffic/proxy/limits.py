"""What the embedded router accepts from clients: sizes, pipelining and whom it trusts.

Defaults follow nginx and HAProxy so a hostile or broken client costs a bounded amount of
memory and CPU: an 8 KiB request line (414 beyond, nginx `large_client_header_buffers`), a
32 KiB header section and 100 fields (431 beyond), an 8 MiB body (413), and per connection
at most `pipelined` requests or `pipelined_bytes` read ahead of the one in flight, after which
the router stops reading (the kernel's buffers push back on the client). `buffered_total`
caps request-body bytes held by all connections together, so many slow uploads cannot grow
the process without bound. `trusted_proxies` decides whose X-Forwarded-* are believed.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

from safeship.config.models import RouterSpec

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


@dataclass(frozen=True)
class Limits:
    """Per-request and per-connection limits of the embedded router (bytes unless named)."""

    request_line: int = 8 * 1024
    header_bytes: int = 32 * 1024
    header_count: int = 100
    body: int = 8 * 1024 * 1024
    pipelined: int = 16
    pipelined_bytes: int = 64 * 1024
    buffered_total: int = 32 * 1024 * 1024
    trusted_proxies: tuple[Network, ...] = ()

    def problems(self) -> list[str]:
        """What makes these unusable; empty when they are fine."""
        sizes = ("request_line", "header_bytes", "header_count", "body", "pipelined")
        out = [f"{n} must be >= 1, found {getattr(self, n)}" for n in sizes if getattr(self, n) < 1]
        if self.pipelined_bytes < 0:
            out.append(f"pipelined_bytes must be >= 0, found {self.pipelined_bytes}")
        if self.buffered_total < self.body:
            out.append(f"buffered_total {self.buffered_total} must hold one body ({self.body})")
        return out

    def trusts(self, address: str) -> bool:
        """Whether a peer may speak for the client (its X-Forwarded-* are kept and appended)."""
        if not self.trusted_proxies:
            return False
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:  # a unix socket or a name: not an address we were told to trust
            return False
        return any(ip in network for network in self.trusted_proxies)


def parse_networks(texts: list[str] | tuple[str, ...]) -> tuple[Network, ...]:
    """CIDRs (or plain addresses) → networks; raises ValueError naming the bad one."""
    out = []
    for text in texts:
        try:
            out.append(ipaddress.ip_network(text.strip(), strict=False))
        except ValueError as exc:
            raise ValueError(f"trusted proxy {text!r}: {exc}") from None
    return tuple(out)


def limits_from_spec(spec: RouterSpec) -> Limits:
    """The `router:` section of a rollout spec as the router's `Limits`."""
    return Limits(
        request_line=spec.max_request_line,
        header_bytes=spec.max_header_bytes,
        header_count=spec.max_headers,
        body=spec.max_body_bytes,
        pipelined=spec.max_pipelined,
        pipelined_bytes=spec.max_pipelined_bytes,
        buffered_total=spec.max_buffered_bytes,
        trusted_proxies=parse_networks(spec.trusted_proxies),
    )
