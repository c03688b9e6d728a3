"""Oversized bodies and files get a 413 naming the limit, before they are read whole; deeply
nested JSON is refused with a 4xx saying so, wherever it arrives (body, NDJSON line, CSV cell)."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator

import pytest
import uvicorn

from services.api.app import create_app
from services.api.limits import SMALL_BODY_BYTES
from services.ingest.json_input import MAX_DEPTH
from tests.conftest import valid
from tests.hostile.conftest import SMALL_UPLOAD_BYTES, Api


def test_a_declared_oversized_report_body_is_refused_naming_the_limit(api: Api) -> None:
    body = json.dumps([valid("ridr", f"big-{n}") for n in range(200)]).encode()
    assert len(body) > SMALL_UPLOAD_BYTES
    answer = api.client.post("/v1/reports/ridr", content=body, headers={
        **api.headers("clinical"), "Content-Type": "application/json"})
    assert answer.status_code == 413
    assert str(SMALL_UPLOAD_BYTES) in answer.json()["detail"]


def test_a_streamed_oversized_report_body_is_refused_naming_the_limit(api: Api) -> None:
    def chunks() -> Iterator[bytes]:  # no Content-Length: counted as it arrives
        yield b"["
        for n in range(400):
            yield json.dumps(valid("ridr", f"chunk-{n}")).encode() + b","
        yield b"{}]"

    answer = api.client.post("/v1/reports/ridr", content=chunks(), headers={
        **api.headers("clinical"), "Content-Type": "application/json"})
    assert answer.status_code == 413
    assert str(SMALL_UPLOAD_BYTES) in answer.json()["detail"]


@pytest.mark.parametrize("name", ["big.csv", "big.ndjson"])
def test_an_oversized_file_is_refused_naming_the_limit(api: Api, name: str) -> None:
    content = b"report_id\n" + b"r-1\n" * (SMALL_UPLOAD_BYTES // 4 + 10)
    answer = api.client.post("/v1/reports/ridr/files", files={"file": (name, content)},
                             headers=api.headers("clinical"))
    assert answer.status_code == 413
    assert str(SMALL_UPLOAD_BYTES) in answer.json()["detail"]


def test_other_bodies_are_small_and_refused_naming_the_limit(api: Api) -> None:
    answer = api.client.post(f"/v1/alerts/{api.alert_ids[0]}/comments",
                             json={"body": "x" * (SMALL_BODY_BYTES + 1)},
                             headers=api.headers("clinical"))
    assert answer.status_code == 413
    assert str(SMALL_BODY_BYTES) in answer.json()["detail"]


@pytest.mark.parametrize("body", [b"[" * 60_000, b'{"a":' * 10_000, b"[" * 900 + b"]" * 900,
                                  json.dumps({**valid("ridr"), "extra": json.loads("[" * 40 + "]" * 40)}).encode()],
                         ids=["unclosed-arrays", "unclosed-objects", "deep-but-closed", "deep-extra-field"])
def test_deeply_nested_report_bodies_are_refused_by_name(api: Api, body: bytes) -> None:
    answer = api.client.post("/v1/reports/ridr", content=body, headers={
        **api.headers("clinical"), "Content-Type": "application/json"})
    assert answer.status_code == 422, answer.text
    assert f"nested deeper than {MAX_DEPTH} levels" in answer.json()["errors"][0]["problem"]


@pytest.mark.parametrize("body", [b"[" * 200_000, b"[" * 900 + b"]" * 900, b'{"body": ' * 5000])
def test_deeply_nested_bodies_elsewhere_are_a_4xx_not_a_crash(api: Api, body: bytes) -> None:
    answer = api.client.post(f"/v1/alerts/{api.alert_ids[0]}/comments", content=body, headers={
        **api.headers("clinical"), "Content-Type": "application/json"})
    assert answer.status_code in (400, 422), answer.text
    assert answer.json()["detail"]


def test_deep_rows_of_a_file_are_dead_lettered_and_the_good_rows_go_on(api: Api) -> None:
    good = json.dumps(valid("ridr", "deep-file-good"))
    deep = "[" * 5000
    closed = json.dumps({**valid("ridr", "deep-file-closed"), "extra": json.loads("[" * 40 + "]" * 40)})
    ndjson = "\n".join([good, deep, closed]).encode()
    answer = api.client.post("/v1/reports/ridr/files", files={"file": ("deep.ndjson", ndjson)},
                             headers=api.headers("clinical"))
    assert answer.status_code == 202, answer.text
    results = answer.json()["results"]
    assert [r["outcome"] for r in results] == ["accepted", "dead_lettered", "dead_lettered"]
    assert all(f"nested deeper than {MAX_DEPTH} levels" in r["reason"] for r in results[1:])
    csv = f"report_id,area_code,substances\nc-1,E08000025,{'[' * 5000}\n".encode()
    answer = api.client.post("/v1/reports/ridr/files", files={"file": ("deep.csv", csv)},
                             headers=api.headers("clinical"))
    assert answer.status_code == 202, answer.text
    assert answer.json()["results"][0]["outcome"] == "dead_lettered"


# --- on a real socket: the refusal comes before the body has been sent ---------------------------


@pytest.fixture(scope="module")
def served(api: Api) -> Iterator[int]:
    server = uvicorn.Server(uvicorn.Config(create_app(api.system), host="127.0.0.1", port=0,
                                           log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not (server.started and server.servers) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert server.started, "uvicorn did not start"
    yield server.servers[0].sockets[0].getsockname()[1]
    server.should_exit = True
    thread.join(timeout=10)


def _answer(conn: socket.socket) -> bytes:
    """The status line, headers and body of one HTTP answer."""
    answer = b""
    while b"\r\n\r\n" not in answer or len(answer.partition(b"\r\n\r\n")[2]) < _length(answer):
        more = conn.recv(65536)
        if not more:
            break
        answer += more
    return answer


def _length(answer: bytes) -> int:
    for line in answer.partition(b"\r\n\r\n")[0].split(b"\r\n"):
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            return int(value)
    return 0


def test_a_huge_declared_body_is_refused_before_it_is_sent(api: Api, served: int) -> None:
    head = (f"POST /v1/reports/ridr HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer "
            f"{api.accounts.tokens['clinical']}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {10 * 1024 ** 3}\r\n\r\n").encode()
    with socket.create_connection(("127.0.0.1", served), timeout=10) as conn:
        conn.sendall(head)  # and not one byte of the body: a server that waited for it would hang
        answer = _answer(conn)
    assert answer.startswith(b"HTTP/1.1 413"), answer[:200]
    assert str(SMALL_UPLOAD_BYTES).encode() in answer


def test_a_huge_chunked_body_is_refused_once_past_the_limit(api: Api, served: int) -> None:
    head = (f"POST /v1/reports/ridr HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer "
            f"{api.accounts.tokens['clinical']}\r\nContent-Type: application/json\r\n"
            "Transfer-Encoding: chunked\r\n\r\n").encode()
    payload = b" " * 4096
    chunk = f"{len(payload):x}\r\n".encode() + payload + b"\r\n"
    with socket.create_connection(("127.0.0.1", served), timeout=10) as conn:
        conn.sendall(head)
        for _ in range(2 * SMALL_UPLOAD_BYTES // len(payload)):
            conn.sendall(chunk)
        # The body never ends (no last chunk): a server that read it whole would never answer.
        answer = _answer(conn)
    assert answer.startswith(b"HTTP/1.1 413"), answer[:200]
    assert str(SMALL_UPLOAD_BYTES).encode() in answer
