"""Reading an HTTP answer without trusting its size: chunks, a cap, and no read past it."""

from __future__ import annotations

import aiohttp

from rolloutd.analysis.providers.contract import ProviderError

__all__ = ["read_capped"]


async def read_capped(response: aiohttp.ClientResponse, cap: int, setting: str) -> bytes:
    """The body, read in chunks; a body past `cap` bytes is a ProviderError and the rest is
    never read (leaving the response's `async with` closes the connection)."""
    length = response.content_length
    if length is not None and length > cap:
        raise ProviderError(
            f"response body is {length} bytes, more than the {cap} allowed ({setting}); not read"
        )
    data = bytearray()
    async for chunk in response.content.iter_chunked(64 * 1024):
        data += chunk
        if len(data) > cap:
            raise ProviderError(
                f"response body is larger than the {cap} bytes allowed ({setting}); "
                "reading stopped there"
            )
    return bytes(data)
