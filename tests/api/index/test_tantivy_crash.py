"""The embedded alert index reopens cleanly after its writer was killed in the middle of a commit."""

from __future__ import annotations

import shutil
from pathlib import Path

from services.api.index import AlertQuery, TantivyAlertIndex
from tests.api.index.conftest import alert


def _killed_mid_commit(tmp_path: Path) -> Path:
    """An index directory as a SIGKILL leaves it: a commit's files written, its meta.json not."""
    live, crashed = tmp_path / "live", tmp_path / "crashed"
    index = TantivyAlertIndex(live)
    index.upsert([alert("a1", "first"), alert("a2", "other")])
    shutil.copytree(live, crashed)
    # Replacing a1 deletes it from a segment that keeps a2: a delete file named by opstamp.
    index.upsert([alert("a1", "second")])
    index.close()
    for path in live.iterdir():
        if path.name != "meta.json" and not path.name.endswith(".lock"):
            shutil.copy(path, crashed / path.name)
    return crashed


def test_the_commit_after_a_killed_one_succeeds_and_keeps_the_committed_alerts(tmp_path: Path) -> None:
    crashed = _killed_mid_commit(tmp_path)
    assert any(path.suffix == ".del" for path in crashed.iterdir())  # the leftover that collided

    reopened = TantivyAlertIndex(crashed)
    # The same number of operations as the lost commit reaches the same opstamp, so the same name.
    reopened.upsert([alert("a1", "third"), alert("a3", "more")])

    assert {hit["alert_id"] for hit in reopened.search(AlertQuery()).hits} == {"a1", "a2", "a3"}
    assert reopened.search(AlertQuery(q="third")).total == 1
    assert reopened.search(AlertQuery(q="second")).total == 0  # the killed commit stays lost
