"""`POST /api/v1/write`: the Prometheus remote-write receiver (protocol 1.0) of safeship serve.

Where it sits: a Prometheus with `remote_write: [{url: http://serve/api/v1/write}]` pushes
here; the body goes to `metrics/remote_in.py` in a worker thread (decoding and the WAL's
write, an fsync too under `fsync: 0s`, stay off the event loop). It decides nothing: 204
once the samples are in the store and its WAL; 400 for a body that is not a WriteRequest or
for out-of-order samples (the sender drops the batch); 401/403 without a token of role
`ingest` or higher.
"""

from __future__ import annotations

from typing import ClassVar

import anyio
from fastapi import APIRouter, Depends, Request, Response

from safeship.core.errors import InvalidInput
from safeship.metrics.remote_in import RemoteWriteReceiver
from safeship.metrics.remote_proto import MAX_DECODED_BYTES
from safeship.server.auth import Authenticator, Principal
from safeship.store.tokens import Role

PREFIX = "/api/v1"


class UnsupportedEncoding(InvalidInput):
    http_status: ClassVar[int] = 415


def remote_write_api(receiver: RemoteWriteReceiver, auth: Authenticator) -> APIRouter:
    router = APIRouter(prefix=PREFIX, tags=["remote write"])
    ingest = Depends(auth.require(Role.ingest))

    @router.post("/write", status_code=204, response_class=Response)
    async def write(request: Request, _: Principal = ingest) -> Response:
        """A snappy-compressed protobuf WriteRequest (Prometheus remote write 1.0)."""
        encoding = request.headers.get("content-encoding", "snappy")
        if encoding.lower() != "snappy":
            raise UnsupportedEncoding(f"Content-Encoding {encoding!r}; expected snappy")
        body = await _body(request)
        await anyio.to_thread.run_sync(receiver.receive, body)
        return Response(status_code=204)

    return router


async def _body(request: Request) -> bytes:
    """The body, refused once it outgrows what any sane batch compresses to."""
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_DECODED_BYTES:
            raise InvalidInput(f"request body larger than {MAX_DECODED_BYTES} bytes")
        chunks.append(chunk)
    return b"".join(chunks)
