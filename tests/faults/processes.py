"""`ews` processes of the embedded deployment, started, SIGKILLed and restarted by the tests."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class Processes:
    """The API (`ews api`) and each pipeline stage (`ews pipeline --stage NAME`) as processes."""

    env: dict[str, str]
    log_dir: Path
    port: int = field(default_factory=free_port)
    running: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    starts: int = 0

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, name: str) -> None:
        argv = (["api", "--port", str(self.port)] if name == "api"
                else ["pipeline", "--stage", name])
        self.starts += 1
        with (self.log_dir / f"{name}-{self.starts}.log").open("wb") as log:
            self.running[name] = subprocess.Popen(
                [sys.executable, "-m", "services.cli", *argv], env={**os.environ, **self.env},
                stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        if name == "api":
            self.wait_api()

    def wait_api(self, within: float = 180.0) -> None:  # slow starts on a busy machine
        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            self.assert_alive()
            try:
                if httpx.get(f"{self.base_url}/healthz", timeout=1).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        raise AssertionError(f"the API did not answer within {within:.0f} s")

    def kill(self, name: str) -> None:
        """SIGKILL: nothing is flushed, committed or closed."""
        process = self.running.pop(name)
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=10)

    def assert_alive(self) -> None:
        for name, process in self.running.items():
            code = process.poll()
            if code is not None:
                logs = sorted(self.log_dir.glob(f"{name}-*.log"), key=lambda p: p.stat().st_mtime)
                tail = logs[-1].read_text(errors="replace")[-3000:] if logs else ""
                raise AssertionError(f"{name} exited with {code}:\n{tail}")

    def stop_all(self) -> None:
        for process in self.running.values():
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in self.running.values():
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=5)
        self.running.clear()
