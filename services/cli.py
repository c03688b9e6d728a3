"""The `ews` command: parses arguments and calls into the packages, nothing more."""

from __future__ import annotations

import argparse
import datetime as dt
import os
import sys
from pathlib import Path

from services.ops.collector import tune_collector
from services.ops.logs import configure_logging, log_startup
from services.settings import Settings
from streams.transport import TransportError


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="ews", description="NPS early-warning system")
    parser.add_argument("--data-dir", type=Path, help="where the embedded deployment keeps its data")
    sub = parser.add_subparsers(dest="command", required=True)

    up = sub.add_parser("up", help="run the whole system (pipeline, API, web UI)")
    up.add_argument("--demo", action="store_true", help="replay a simulated stream with planted threats")
    up.add_argument("--host")
    up.add_argument("--port", type=int)
    up.add_argument("--replay-seconds", type=float, default=30.0,
                    help="how long the demo takes to replay its 12 months (default 30)")

    users = sub.add_parser("users", help="accounts and API tokens").add_subparsers(
        dest="users_command", required=True)
    add = users.add_parser("add", help="add an account")
    add.add_argument("name")
    add.add_argument("--role", required=True,
                     choices=["clinical", "forensic", "intelligence", "public_health", "admin"])
    add.add_argument("--area", action="append", default=[], metavar="CODE",
                     help="an ONS LAD code the account answers for (repeat)")
    add.add_argument("--lab", action="append", default=[], metavar="LAB",
                     help="a lab id a forensic provider submits for (repeat)")
    add.add_argument("--email")
    add.add_argument("--password-stdin", action="store_true",
                     help="read a password from standard input (for signing in at /signin)")
    users.add_parser("list", help="list accounts and their live tokens")
    token = users.add_parser("token", help="make an API token (printed once)")
    token.add_argument("name")
    token.add_argument("--label")
    revoke = users.add_parser("revoke-token", help="revoke an API token")
    revoke.add_argument("token_id")
    disable = users.add_parser("disable", help="disable an account")
    disable.add_argument("name")

    pipeline = sub.add_parser("pipeline", help="run only the pipeline stages (normaliser, "
                              "detectors, alert builder, notifier)")
    pipeline.add_argument("--stage", action="append", metavar="NAME",
                          choices=["normaliser", "sweeper", "detector", "alert-builder",
                                   "notifier"],
                          help="run only this stage (repeat for several; default: all), so each "
                          "stage can be its own process; a detector without the sweeper in its "
                          "process waits for a sweeper process")
    pipeline.add_argument("--parent-pid", type=int, help=argparse.SUPPRESS)  # `ews up`'s child

    worker = sub.add_parser("worker", help="run one stream worker of the scaled deployment "
                            "(Kafka; start several of a role to share its partitions; one "
                            "sweeper and one notifier)")
    worker.add_argument("role", choices=["normaliser", "detector", "alert-builder", "sweeper",
                                         "notifier"])

    api = sub.add_parser("api", help="run only the HTTP API and web UI (e.g. replicas of the scaled deployment)")
    api.add_argument("--host")
    api.add_argument("--port", type=int)

    backup = sub.add_parser("backup", help="back up the embedded log, store and key into one "
                            "file (safe while the system runs)")
    backup.add_argument("--out", type=Path, required=True, help="the backup file (.tar.gz)")
    restore = sub.add_parser("restore", help="restore a backup into an empty data dir and "
                             "rebuild the alert index")
    restore.add_argument("file", type=Path)

    republish = sub.add_parser(
        "republish", help="append the records the store accepted since a moment to the log "
        "again (after a broker lost records it had acknowledged; safe to repeat: nothing counts "
        "twice)")
    republish.add_argument("--since", type=_moment, required=True,
                           help="ISO 8601 time, e.g. 2026-12-04T10:00:00+00:00 (UTC if no zone)")
    republish.add_argument("--until", type=_moment, help="ISO 8601 time (default: now)")
    republish.add_argument("--source", action="append", choices=["ridr", "forensic", "market",
                                                                 "death"],
                           help="only this source (repeat for several; default: all)")

    sim = sub.add_parser("simulate", help="write a seeded simulated stream with planted threats")
    sim.add_argument("--out", type=Path, required=True)
    sim.add_argument("--seed", type=int, default=7)
    sim.add_argument("--months", type=int, default=12)
    sim.add_argument("--end", help="last day of the stream (YYYY-MM-DD; default yesterday)")
    sim.add_argument("--scale", type=float, default=1.0)

    chem = sub.add_parser("chem", help="chemistry").add_subparsers(dest="chem_command", required=True)
    resolve = chem.add_parser("resolve", help="resolve SMILES, InChI or names to substances")
    resolve.add_argument("texts", nargs="+", metavar="TEXT")
    resolve.add_argument("--json", action="store_true", help="JSON Lines, one object per input")

    detect = sub.add_parser("detect", help="aberration detection").add_subparsers(
        dest="detect_command", required=True)
    series = detect.add_parser("series", help="judge count series (CSV series_id,period,count)")
    series.add_argument("--input", type=Path, required=True)
    series.add_argument("--method")
    series.add_argument("--start")
    series.add_argument("--freq", default="week", help="week (default), day or month")
    detect.add_parser("methods", help="list the detection methods")
    return parser


def _moment(text: str) -> dt.datetime:
    try:
        moment = dt.datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not an ISO 8601 time (e.g. 2026-12-04T10:00:00+00:00)") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)


def main(argv: list[str] | None = None) -> int:
    try:
        return _run(_parser().parse_args(argv))
    except BrokenPipeError:
        # The reader went away (`ews detect series ... | head`): not an error of ours.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except TransportError as exc:
        # The log or the broker cannot be used (disk full, read-only, unreachable): say why.
        print(f"ews: error: {exc}", file=sys.stderr)
        return 1


def _run(args: argparse.Namespace) -> int:
    overrides = {key: value for key, value in (("data_dir", args.data_dir),
                                               ("host", getattr(args, "host", None)),
                                               ("port", getattr(args, "port", None)))
                 if value is not None}
    settings = Settings(**overrides)
    configure_logging(settings)
    if args.command in ("up", "api", "pipeline", "worker"):
        tune_collector()
        log_startup(settings, args.command)
    match args.command:
        case "up":
            from services.up import up

            return up(settings, demo=args.demo, replay_seconds=args.replay_seconds, out=sys.stdout)
        case "api":
            from services.api.run import run_api

            return run_api(settings)
        case "users":
            from services.api.users.commands import users_command

            return users_command(
                settings, args.users_command, name=getattr(args, "name", None),
                role=getattr(args, "role", None), areas=getattr(args, "area", None),
                labs=getattr(args, "lab", None), email=getattr(args, "email", None),
                password_stdin=getattr(args, "password_stdin", False),
                label=getattr(args, "label", None), token_id=getattr(args, "token_id", None),
                out=sys.stdout)
        case "pipeline":
            from services.pipeline.run import run_forever

            if settings.metrics_port:
                from services.ops import serve_metrics

                serve_metrics(settings.metrics_port, settings.host)
            return run_forever(settings, stages=args.stage, parent_pid=args.parent_pid)
        case "worker":
            from services.workers import WorkerSettings, run_worker

            return run_worker(settings, args.role, WorkerSettings())
        case "backup" | "restore":
            import json

            from services.ops import BackupError, backup, restore

            try:
                manifest = (backup(settings, args.out) if args.command == "backup"
                            else restore(settings, args.file))
            except BackupError as exc:
                print(f"ews: error: {exc}", file=sys.stderr)
                return 1
            print(json.dumps(manifest, indent=2))
            return 0
        case "republish":
            import json

            from services.ingest.republish import republish
            from services.pipeline import EmbeddedSystem

            # The index is not needed, and its one writer may be running (`ews up`).
            system = EmbeddedSystem(settings, index_writable=False)
            try:
                done = republish(system.store, system.transport, since=args.since,
                                 until=args.until, sources=args.source)
            finally:
                system.close()
            print(json.dumps(done.as_dict(), indent=2))
            return 0
        case "simulate":
            from services.simulate import simulate_command

            return simulate_command(args.out, args.seed, args.months, args.end, args.scale, sys.stdout)
        case "chem":
            from chemistry.cli import resolve_command

            return resolve_command(args.texts, args.json, sys.stdout)
        case "detect":
            from services.detector.series import METHODS, detect_series_command

            if args.detect_command == "methods":
                for name in METHODS:
                    print(name)
                return 0
            return detect_series_command(args.input, args.method, args.start, args.freq, sys.stdout)
    return 2


if __name__ == "__main__":
    sys.exit(main())
