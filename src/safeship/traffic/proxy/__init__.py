"""The embedded router: safeship's own asyncio HTTP/1.1 reverse proxy (router kind `embedded`)."""
