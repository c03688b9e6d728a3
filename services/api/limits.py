"""Request body limits, enforced while the body arrives, so an oversized one is never read whole.

Reports and report files may be as large as `max_upload_bytes` (their routes check that limit
again and name it); every other body (a review, a comment, an account, a subscription) is a small
JSON object or form. A declared Content-Length over the limit is refused before anything is
read; a body sent without one (chunked) is counted as it streams and refused once past it.
"""

from __future__ import annotations

from starlette.exceptions import HTTPException
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

SMALL_BODY_BYTES = 1024 * 1024
# Boundaries and part headers around an uploaded file, on top of the file's own limit.
MULTIPART_ALLOWANCE = 64 * 1024
_UPLOAD_PATHS = "/v1/reports/"


class BodyTooLarge(HTTPException):
    """A request body past its limit (413); the detail names the limit."""

    def __init__(self, limit: int) -> None:
        super().__init__(413, too_large(limit))


def too_large(limit: int) -> str:
    return f"request body larger than {limit} bytes, the limit for this request"


class BodyLimit:
    """ASGI middleware: 413 for a body over the limit of its path."""

    def __init__(self, app: ASGIApp, *, upload_bytes: int, other_bytes: int = SMALL_BODY_BYTES) -> None:
        self.app = app
        self.upload_bytes = upload_bytes
        self.other_bytes = other_bytes

    def limit_for(self, path: str) -> int:
        if path.startswith(_UPLOAD_PATHS):
            return self.upload_bytes + (MULTIPART_ALLOWANCE if path.endswith("/files") else 0)
        return self.other_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.limit_for(scope["path"])
        declared = _content_length(scope)
        if declared is not None and declared > limit:
            refusal = JSONResponse(status_code=413, content={
                "detail": too_large(limit), "errors": [{"field": "(body)", "problem": too_large(limit)}]})
            await refusal(scope, receive, send)
            return
        received = 0

        async def counted() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise BodyTooLarge(limit)  # an HTTPException: FastAPI answers it as a 413
            return message

        await self.app(scope, counted, send)


def _content_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            text = value.decode("latin-1").strip()
            return int(text) if text.isdigit() else None
    return None
