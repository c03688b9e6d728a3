"""A submitting client that does what the API asks of one: on a refusal (503) or a lost
connection, send the same records again, with the same report_ids, until they are taken."""

from __future__ import annotations

import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import httpx


@dataclass
class Submission:
    source: str
    token: str
    records: list[dict[str, Any]]


@dataclass
class RetryingClient:
    base_url: str
    pace: float = 0.1  # seconds between submissions, so that the stream lasts
    outcomes: Counter[str] = field(default_factory=Counter)
    accepted_ids: list[tuple[str, str]] = field(default_factory=list)  # (source, report_id) 202'd
    retries: Counter[str] = field(default_factory=Counter)  # why a submission was sent again
    in_flight: threading.Event = field(default_factory=threading.Event)
    done: threading.Event = field(default_factory=threading.Event)
    error: BaseException | None = None

    def submit(self, submission: Submission, give_up_after: float = 300.0) -> None:
        url = f"{self.base_url}/v1/reports/{submission.source}"
        headers = {"Authorization": f"Bearer {submission.token}"}
        deadline = time.monotonic() + give_up_after
        while True:
            assert time.monotonic() < deadline, f"{url} refused the records for {give_up_after} s"
            self.in_flight.set()
            try:
                answer = httpx.post(url, json=submission.records, headers=headers, timeout=30)
            except httpx.TransportError as exc:
                self.retries[type(exc).__name__] += 1
                time.sleep(0.1)
                continue
            finally:
                self.in_flight.clear()
            if answer.status_code == 503:
                self.retries[f"503: {answer.json()['detail'][:60]}"] += 1
                time.sleep(0.2)
                continue
            assert answer.status_code == 202, answer.text
            for result in answer.json()["results"]:
                self.outcomes[result["outcome"]] += 1
                self.accepted_ids.append((submission.source, result["report_id"]))
            return

    def submit_all(self, submissions: list[Submission]) -> None:
        try:
            for submission in submissions:
                self.submit(submission)
                time.sleep(self.pace)
        except BaseException as exc:  # noqa: BLE001 - handed to the test's thread
            self.error = exc
        finally:
            self.done.set()

    def start(self, submissions: list[Submission]) -> threading.Thread:
        thread = threading.Thread(target=self.submit_all, args=(submissions,), daemon=True)
        thread.start()
        return thread
