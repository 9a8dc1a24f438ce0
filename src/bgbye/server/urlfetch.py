"""Fetch an image by URL for a client (``image_url``, ``bg_image_url``), safely.

* SSRF guard: the host is resolved first and *every* address it resolves to must be public
  (not loopback, private, link-local/cloud-metadata, CGNAT, multicast, reserved...) unless
  ``BGBYE_FETCH_ALLOW`` lists it (an address, a network or a host name). The connection then
  goes to the address that was checked (the URL's host is kept for ``Host`` and TLS SNI), so a
  second DNS answer cannot swap in an internal address (DNS rebinding).
* Redirects are followed by hand, at most ``fetch_max_redirects``, each hop checked the same way.
* Limits while streaming: the declared ``Content-Length``, then the bytes as they arrive
  (``BGBYE_MAX_UPLOAD_BYTES``), and the pixel count from the image header as soon as it has
  arrived (``BGBYE_MAX_PIXELS``): a bomb is cut off after a few kilobytes.
* Only ``http``/``https``, only ``image/*`` (or ``application/octet-stream``) content types.
* Connect and read timeouts (``BGBYE_FETCH_TIMEOUT_SECONDS``).
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import ssl
from dataclasses import dataclass
from urllib.parse import urljoin, urlsplit

import httpx

from bgbye import imageio
from bgbye.errors import BgbyeError, ImageTooLargeError, InvalidImageError
from bgbye.settings import Settings

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

_OK_TYPES = ("image/", "application/octet-stream", "binary/octet-stream")
_REDIRECTS = frozenset({301, 302, 303, 307, 308})
_PROBE_STEP = 16 * 1024  # retry reading the header every 16 KiB until it parses


class UrlFetchError(BgbyeError):
    """The URL could not be fetched (network, HTTP status, content type, redirects)."""

    code = "url_fetch_failed"
    http_status = 400


class UrlRefusedError(UrlFetchError):
    """The URL is malformed or points at an address the server will not contact."""

    code = "url_refused"


@dataclass(frozen=True)
class Allow:
    """What ``BGBYE_FETCH_ALLOW`` lets through despite the guard."""

    networks: tuple[IPNetwork, ...] = ()
    hosts: frozenset[str] = frozenset()

    @classmethod
    def parse(cls, value: str) -> Allow:
        networks: list[IPNetwork] = []
        hosts: set[str] = set()
        for item in (p.strip() for p in value.split(",")):
            if not item:
                continue
            try:
                networks.append(ipaddress.ip_network(item, strict=False))
            except ValueError:
                hosts.add(item.lower().rstrip("."))
        return cls(tuple(networks), frozenset(hosts))

    def allows(self, host: str, address: IPAddress) -> bool:
        return host in self.hosts or any(address in net for net in self.networks)


def _plain(address: IPAddress) -> IPAddress:
    """``::ffff:10.0.0.1`` is 10.0.0.1: judge the IPv4 address it maps to."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def is_public(address: IPAddress) -> bool:
    """Only globally routable unicast addresses: this refuses loopback, RFC 1918, link-local
    (169.254.169.254 and the other cloud metadata endpoints), CGNAT (100.100.100.200), ULA
    (fd00:ec2::254), multicast, reserved and unspecified addresses."""
    address = _plain(address)
    return address.is_global and not address.is_multicast


def check_address(host: str, address: IPAddress, allow: Allow) -> None:
    if is_public(address) or allow.allows(host, _plain(address)) or allow.allows(host, address):
        return
    raise UrlRefusedError(
        f"Refusing to fetch from {host} ({address}): loopback, private, link-local and metadata "
        "addresses are not fetched (the server operator may allow some in BGBYE_FETCH_ALLOW).")


async def resolve(host: str, port: int) -> list[IPAddress]:
    try:
        return [ipaddress.ip_address(host)]
    except ValueError:
        pass
    loop = asyncio.get_running_loop()
    try:
        infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise UrlFetchError(f"Could not resolve {host}: {exc}") from exc
    # Scoped IPv6 results carry "%iface": drop the scope before parsing.
    addresses = {ipaddress.ip_address(str(info[4][0]).split("%")[0]) for info in infos}
    if not addresses:
        raise UrlFetchError(f"{host} resolves to no address.")
    return sorted(addresses, key=lambda a: (a.version, int(a)))


@dataclass(frozen=True)
class Target:
    url: str  # the URL with the checked address in place of the host name
    host: str
    sni: str | None
    host_header: str


async def checked_target(url: str, allow: Allow) -> Target:
    """Parse, resolve and check ``url``; answer where to connect."""
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError as exc:
        raise UrlRefusedError(f"Not a valid URL: {url!r}.") from exc
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise UrlRefusedError(f"Only http and https URLs are fetched, not {url!r}.")
    if parts.username or parts.password:
        raise UrlRefusedError("URLs with user names or passwords are not fetched.")
    host = parts.hostname.lower().rstrip(".")
    port = port or (443 if parts.scheme == "https" else 80)
    addresses = await resolve(host, port)
    for address in addresses:  # every answer must pass: the client may pick any of them
        check_address(host, address, allow)
    address = addresses[0]
    netloc = f"[{address}]" if address.version == 6 else str(address)
    pinned = parts._replace(netloc=f"{netloc}:{port}").geturl()
    default_port = port == (443 if parts.scheme == "https" else 80)
    host_header = host if default_port else f"{host}:{port}"
    if ":" in host:  # an IPv6 literal
        host_header = f"[{host}]" if default_port else f"[{host}]:{port}"
    sni = host if parts.scheme == "https" else None
    return Target(pinned, host, sni, host_header)


def _content_type_ok(value: str) -> bool:
    value = value.split(";")[0].strip().lower()
    return not value or value.startswith(_OK_TYPES)


def _check_header(data: bytes, settings: Settings, final: bool) -> bool:
    """True once the header has been read and is within the pixel limit."""
    try:
        imageio.probe(data, max_pixels=settings.max_pixels)
    except ImageTooLargeError:
        raise
    except BgbyeError:
        if final:
            raise
        return False
    return True


async def _read_body(resp: httpx.Response, settings: Settings, what: str) -> bytes:
    limit = settings.max_upload_bytes
    declared = resp.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise ImageTooLargeError(
            f"The {what} at that URL is {int(declared):,} bytes; the limit is {limit:,} bytes.")
    chunks = bytearray()
    header_ok = False
    next_probe = _PROBE_STEP
    async for chunk in resp.aiter_bytes():
        chunks += chunk
        if len(chunks) > limit:
            raise ImageTooLargeError(
                f"The {what} at that URL is larger than the limit of {limit:,} bytes.")
        if not header_ok and len(chunks) >= next_probe:
            header_ok = _check_header(bytes(chunks), settings, final=False)
            next_probe = len(chunks) + _PROBE_STEP
    data = bytes(chunks)
    if not data:
        raise InvalidImageError(f"The {what} at that URL is empty.")
    if not header_ok:
        _check_header(data, settings, final=True)
    return data


async def fetch_image(url: str, settings: Settings, *, what: str = "image",
                      verify: ssl.SSLContext | bool = True) -> bytes:
    """The bytes at ``url``, or a ``UrlFetchError`` / ``ImageTooLargeError`` /
    ``InvalidImageError`` that says why not. ``verify``: TLS trust (tests pass their own CA)."""
    allow = Allow.parse(settings.fetch_allow)
    timeout = httpx.Timeout(settings.fetch_timeout_seconds,
                            connect=min(settings.fetch_timeout_seconds, 5.0))
    # trust_env=False: a proxy from the environment would resolve names itself, past the guard.
    async with httpx.AsyncClient(timeout=timeout, follow_redirects=False, trust_env=False,
                                 verify=verify) as client:
        current = url
        for _hop in range(settings.fetch_max_redirects + 1):
            target = await checked_target(current, allow)
            request = client.build_request(
                "GET", target.url,
                headers={"Host": target.host_header, "Accept": "image/*",
                         "User-Agent": "bgbye-fetch"},
                extensions={"sni_hostname": target.sni} if target.sni else None)
            try:
                resp = await client.send(request, stream=True)
            except httpx.TimeoutException as exc:
                raise UrlFetchError(f"Fetching the {what} timed out "
                                    f"({settings.fetch_timeout_seconds:g} s).") from exc
            except httpx.HTTPError as exc:
                raise UrlFetchError(f"Fetching the {what} failed: {exc}") from exc
            try:
                if resp.status_code in _REDIRECTS and "location" in resp.headers:
                    current = urljoin(current, resp.headers["location"])
                    continue
                if resp.status_code != 200:
                    raise UrlFetchError(
                        f"Fetching the {what} failed: the server answered HTTP "
                        f"{resp.status_code}.")
                if not _content_type_ok(resp.headers.get("content-type", "")):
                    raise InvalidImageError(
                        f"The {what} URL answered {resp.headers['content-type']!r}, not an "
                        "image.")
                try:
                    return await _read_body(resp, settings, what)
                except httpx.TimeoutException as exc:
                    raise UrlFetchError(f"Fetching the {what} timed out.") from exc
                except httpx.HTTPError as exc:
                    raise UrlFetchError(f"Fetching the {what} failed: {exc}") from exc
            finally:
                await resp.aclose()
        raise UrlFetchError(f"Fetching the {what} failed: more than "
                            f"{settings.fetch_max_redirects} redirects.")

