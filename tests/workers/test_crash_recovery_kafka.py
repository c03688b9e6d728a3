"""Every worker role is killed -9 mid-stream and restarted: nothing is lost, nothing counts
twice, and no email goes twice.

Two detectors share the events' partitions and are killed in turn, one per chunk; the
normaliser, the sweeper (twice) and the alert builder are each killed once while they have
input in flight, and the notifier while it has alert emails to send. The reference is the
embedded pipeline on the same records, appended in the same order. What must be equal, and why
it can be:

- counts per series-period and the events seen: exact. A series is one area and one source, so
  its events keep their order on every transport (keyed by area, one partition per key).
- the signals: exact, as a set of ids (ids derive from content; the same signal sent twice
  after a kill is one signal). The detectors judge a period by the history since the data
  began: the stream opens each area and source with a record dated 120 days back, so every
  partition's data begin where the embedded system's do. The windowed detectors (the sweeper)
  look for clusters once a week of data, over the events seen when the week's day closes; the
  stream's reports all fall in the week before a sweep day and that day is closed by one last
  report, sent once everything else is in, so the sweep sees every report on both transports
  however Kafka interleaves the partitions (it raises a cluster of deaths planted in it).
- the alerts: equal in what they say (subject terms, areas, sources, detectors, severity,
  period, confidence), not in their ids. The alert builder reads the signals of all partitions
  interleaved as the workers happen to produce them, and an alert's id is that of the signal
  that raised it. The stream keeps the fusion order-independent otherwise: its areas are
  further apart than an alert's reach, and every record falls within one alert window.
- the emails: one per confirmed alert, never two; one at most may be lost (at most once: the
  notifier claims an email in the store before handing it over, and a kill may fall between).
"""

from __future__ import annotations

import datetime as dt
import random
import time
from collections import Counter
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from services.api.app import create_app
from services.api.index import AlertQuery
from services.detector.state import NATIONAL
from services.ingest import accept, validate
from services.pipeline import EmbeddedSystem, Pipeline
from services.settings import Settings
from services.store import AlertRow, EventRow, NotificationSent, SeriesCount, SignalRow, Store
from services.workers import STREAM_ROLES
from services.workers.agents import STAGE_INPUTS, STATE_TABLE, changelog
from services.workers.table_state import EVENT, parse_key, replay_changelog, series_counts
from streams import topics
from streams.transport import Transport
from tests.conftest import valid
from tests.notify.conftest import Inbox
from tests.workers.conftest import (
    Worker,
    Workers,
    caught_up,
    confirm,
    subscribe_lead,
    sweep_day,
    wait_for,
)

pytestmark = [pytest.mark.kafka, pytest.mark.slow]

# One area per partition of the 6 events partitions; no two within an alert's reach (2 hops).
AREAS = ["E08000025", "E08000012", "E06000023", "E08000035", "E06000026", "E06000018"]
NAMES = ["heroin", "cocaine", "MDMA", "ketamine", "diazepam", "spice", "pregabalin"]
SOURCES = ("ridr", "forensic", "death")
CHUNK = 205  # four chunks: a detector killed in each
WINDOWED = {"presentation_cluster", "death_cluster", "space_time_cluster", "market"}
CONFIRMED = 16  # alerts the clinical network confirms (half before the notifier's kill)
# Besides a detector, who is killed while each chunk is in flight.
ALSO_KILLED = ["normaliser", "sweeper", "alert-builder", "sweeper"]


def crash_records(n: int, seed: int = 11) -> list[tuple[str, dict]]:
    """Every area and source opens 120 days back; then n reports in the week before a sweep
    day, and three protonitazene deaths in one area among them."""
    rng = random.Random(seed)
    week = (dt.date.today() - sweep_day(dt.date.today())).days  # days ago of the sweep day
    out: list[tuple[str, dict]] = []
    for area in AREAS:
        out.append(("ridr", valid("ridr", f"pin-{area}", area=area, days_ago=120,
                                  substances=[{"name": "heroin"}])))
        out.append(("forensic", valid("forensic", f"pin-{area}", area=area, days_ago=120)))
        out.append(("death", valid("death", f"pin-{area}", area=area, days_ago=120)))
    deaths = {rng.randrange(n // 2, n): back for back in (4, 5, 6)}
    for i in range(n):
        area, days_ago = rng.choice(AREAS), week + rng.randint(0, 6)
        if i in deaths:
            out.append(("death", valid("death", f"d-{i}", area=AREAS[0], days_ago=week + deaths[i],
                                       substances=[{"name": "protonitazene"},
                                                   {"name": "heroin"}])))
        elif rng.random() < 0.7:
            names = rng.sample(NAMES, rng.randint(1, 2))
            out.append(("ridr", valid("ridr", f"r-{i}", area=area, days_ago=days_ago,
                                      substances=[{"name": name} for name in names])))
        else:
            comps = [{"name": "heroin", "purity_percent": 30}, {"name": "caffeine"}]
            if rng.random() < 0.1:
                comps.append({"name": "xylazine"})
            out.append(("forensic", valid("forensic", f"f-{i}", area=area, days_ago=days_ago,
                                          components=comps)))
    return out


def next_day() -> list[tuple[str, dict]]:
    """One report dated the day after the sweep day: it closes the week."""
    week = (dt.date.today() - sweep_day(dt.date.today())).days
    return [("ridr", valid("ridr", "r-next-day", area=AREAS[1], days_ago=week - 1))]


def feed(system: EmbeddedSystem, records: list[tuple[str, dict]]) -> None:
    for source in SOURCES:
        batch = [(i, validate(s, r)) for i, (s, r) in enumerate(records) if s == source]
        if batch:
            accept(system.store, system.transport, source, "crash-test", batch, via="test")


def alert_facts(store: Store) -> list[tuple]:
    with store.session() as session:
        return sorted((tuple(a.terms), tuple(a.areas), tuple(a.sources), tuple(a.detectors),
                       a.severity, a.first_seen, a.last_seen, a.confidence, a.scope)
                      for a in session.execute(select(AlertRow)).scalars())


def signals_by_id(store: Store) -> dict[str, str]:
    with store.session() as session:
        return dict(session.execute(select(SignalRow.signal_id, SignalRow.detector)).all())


def reference(root: Path, chunks: list[list[tuple[str, dict]]]) -> dict[str, object]:
    system = EmbeddedSystem(Settings(data_dir=root))
    try:
        for chunk in chunks:
            feed(system, chunk)
        Pipeline(system).drain()
        with system.store.session() as session:
            counts = {(d, v, a, s, f, p.isoformat()): c for d, v, a, s, f, p, c in session.execute(
                select(SeriesCount.dimension, SeriesCount.value, SeriesCount.area_code,
                       SeriesCount.source, SeriesCount.freq, SeriesCount.period,
                       SeriesCount.count))}
            events = set(session.execute(select(EventRow.event_id)).scalars())
        return {"counts": counts, "events": events, "signals": signals_by_id(system.store),
                "alerts": alert_facts(system.store)}
    finally:
        system.close()


def lag(transport: Transport, role: str) -> int:
    return transport.lag(role, STAGE_INPUTS[role])  # type: ignore[index]


def kill_in_flight(workers: Workers, victim: Worker, transport: Transport, *, strict: bool,
                   rng: random.Random, settle: tuple[float, float] = (0.0, 0.3)
                   ) -> tuple[Worker, int]:
    """Kill -9 `victim` once its input is visibly being worked on, and start another like it:
    the new worker and the input uncommitted at the kill. With `strict` (a stage that commits
    as it goes), wait until the lag falls from its peak; otherwise until there is any (up to
    20 s: a stage downstream may have little to do); then `settle` seconds (a random span)."""
    peak = 0

    def in_flight() -> bool:
        nonlocal peak
        now = lag(transport, victim.role)
        peak = max(peak, now)
        return 0 < now < peak if strict else now > 0

    if strict:
        wait_for(in_flight, within=60, what=f"the {victim.role}s to work on the chunk",
                 workers=workers, every=0.05)
    else:
        deadline = time.monotonic() + 20
        while not in_flight() and time.monotonic() < deadline:
            workers.assert_alive()
            time.sleep(0.05)
    time.sleep(rng.uniform(*settle))
    uncommitted = lag(transport, victim.role)
    workers.kill(victim)
    return workers.start(victim.role), uncommitted


def test_every_worker_killed_mid_stream_loses_and_double_counts_nothing_and_mails_once(
        tmp_path: Path, kafka_settings: Settings, workers: Workers,
        smtp: tuple[Inbox, int]) -> None:
    inbox = smtp[0]
    records = crash_records(800)
    chunks = [records[i:i + CHUNK] for i in range(0, len(records), CHUNK)]
    started = time.monotonic()
    want = reference(tmp_path / "reference", [*chunks, next_day()])
    reference_s = time.monotonic() - started

    workers.settings = kafka_settings.model_copy(update={
        "smtp_host": "127.0.0.1", "smtp_port": smtp[1], "mail_from": "alerts@ews.test",
        "notify_interval_s": 0.2})
    detectors = [workers.start("detector"), workers.start("detector")]
    others = {role: workers.start(role)
              for role in ("normaliser", "alert-builder", "sweeper", "notifier")}
    workers.wait_joined(*detectors, *others.values())
    system = EmbeddedSystem(workers.settings, index_writable=False)
    try:
        # (a) One group, two members: each handles some of the events partitions, none twice.
        def shared() -> list[set[int]] | None:
            latest = [worker.assignments()[-1].get(topics.EVENTS, set()) for worker in detectors]
            ok = all(latest) and not latest[0] & latest[1] and latest[0] | latest[1] == set(range(6))
            return latest if ok else None

        split = wait_for(shared, within=60, what="two detectors sharing the 6 events partitions",
                         workers=workers)

        # (b) Feed chunk by chunk; while each is in flight, kill a detector and one other role.
        rng = random.Random(5)
        kills: dict[str, list[int]] = {}  # role -> its uncommitted input at each kill
        started = time.monotonic()
        for number, chunk in enumerate(chunks):
            feed(system, chunk)
            also = ALSO_KILLED[number % len(ALSO_KILLED)]
            if also == "normaliser":  # it takes a chunk as one batch: it is busy from the start
                others[also], uncommitted = kill_in_flight(workers, others[also], system.transport,
                                                           strict=False, rng=rng, settle=(0.2, 0.7))
                kills.setdefault(also, []).append(uncommitted)
            detectors[number % 2], uncommitted = kill_in_flight(
                workers, detectors[number % 2], system.transport, strict=True, rng=rng)
            kills.setdefault("detector", []).append(uncommitted)
            if also != "normaliser":
                others[also], uncommitted = kill_in_flight(
                    workers, others[also], system.transport, strict=False, rng=rng,
                    settle=(0.0, 0.05))
                kills.setdefault(also, []).append(uncommitted)
        wait_for(lambda: caught_up(system.transport, system.store, STREAM_ROLES), within=150,
                 what="every stage to catch up after the kills", workers=workers, every=0.5)
        feed(system, next_day())
        wait_for(lambda: caught_up(system.transport, system.store, STREAM_ROLES), within=60,
                 what="the sweep of the week", workers=workers, every=0.2)
        kafka_s = time.monotonic() - started

        table = replay_changelog((m.key, m.value) for m in
                                 system.transport.read_all(changelog("detector", STATE_TABLE)))
        events = {parse_key(key)[1] for key in table if parse_key(key)[0] == EVENT}
        sent = Counter(m.value["signal_id"] for m in system.transport.read_all(topics.SIGNALS))
        got_signals = signals_by_id(system.store)
        got_alerts = alert_facts(system.store)
        searchable = system.index.search(AlertQuery(limit=1)).total
        with system.store.session() as session:
            swept_events = set(session.execute(select(EventRow.event_id)).scalars())
            alert_ids = sorted(session.execute(select(AlertRow.alert_id)).scalars())

        # (c) The clinical network confirms alerts; the notifier is killed half way.
        with TestClient(create_app(system)) as client:
            headers = subscribe_lead(system, AREAS)
            alert_ids = alert_ids[:CONFIRMED]
            half = len(alert_ids) // 2
            for alert_id in alert_ids[:half]:
                confirm(client, headers, alert_id)
            wait_for(lambda: inbox.messages, within=30, what="the first alert emails",
                     workers=workers, every=0.02)
            mailed_at_kill = len(inbox.messages)
            workers.kill(others["notifier"])
            for alert_id in alert_ids[half:]:
                confirm(client, headers, alert_id)
            others["notifier"] = workers.start("notifier")

            def all_handled() -> bool:
                with system.store.session() as session:
                    states = [row.status for row in
                              session.execute(select(NotificationSent)).scalars()]
                return len(states) == len(alert_ids) and "failed" not in states
            wait_for(all_handled, within=60, what="an email for every confirmed alert",
                     workers=workers)
            time.sleep(1.0)  # any second email would be here by now
        with system.store.session() as session:
            rows = {row.alert_id: row.status
                    for row in session.execute(select(NotificationSent)).scalars()}
    finally:
        system.close()

    mailed = Counter(m["X-EWS-Alert-Id"] for m in inbox.messages)
    windowed = {i for i, detector in want["signals"].items() if detector in WINDOWED}
    print(f"\n{len(records)} reports; reference (embedded) {reference_s:.1f} s; Kafka with "
          f"kill -9 of every role: {kafka_s:.1f} s; detectors' partitions "
          f"{sorted(split[0])} + {sorted(split[1])}; uncommitted input at each kill {kills}; "
          f"events {len(events)} (reference {len(want['events'])}); series-periods "
          f"{len(series_counts(table))}; signals {len(got_signals)} (reference "
          f"{len(want['signals'])}, windowed {len(windowed)}), sent again after a kill "
          f"{sum(sent.values()) - len(sent)}; alerts {len(got_alerts)} (reference "
          f"{len(want['alerts'])}); emails {len(inbox.messages)} for {len(alert_ids)} confirmed "
          f"alerts, {mailed_at_kill} before the notifier's kill, states {Counter(rows.values())}")
    assert len(alert_ids) == CONFIRMED
    assert sum(1 for lag in kills["detector"] if lag > 0) >= 3, kills  # work in flight
    assert events == want["events"] == swept_events
    assert series_counts(table) == want["counts"]
    assert set(got_signals) == set(want["signals"]) == set(sent)
    assert windowed and {"death_cluster"} <= {want["signals"][i] for i in windowed}
    assert got_alerts == want["alerts"]
    assert searchable == len(want["alerts"])
    assert not any(area == NATIONAL for facts in got_alerts for area in facts[1])
    # Never twice; every one recorded as sent arrived; at most the one in hand at the kill lost.
    assert max(mailed.values()) == 1 and set(mailed) <= set(alert_ids)
    assert {a for a, status in rows.items() if status == "sent"} <= set(mailed)
    assert len(mailed) >= len(alert_ids) - 1 and set(rows) == set(alert_ids)
