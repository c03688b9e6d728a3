"""The `ews` command's stable interfaces, called as a user would."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from services.cli import main


def test_chem_resolve_json_lines_in_input_order(capsys) -> None:  # noqa: ANN001
    assert main(["chem", "resolve", "MDMB-4en-PINACA", "not a substance ((", "spice", "--json"]) == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [line["input"] for line in lines] == ["MDMB-4en-PINACA", "not a substance ((", "spice"]
    assert list(lines[0])[:9] == ["input", "kind", "key", "smiles", "name", "class", "novel", "analogue", "error"]
    assert lines[0]["class"] == "synthetic_cannabinoid" and lines[0]["key"]
    assert lines[1]["error"] and lines[1]["key"] is None
    assert lines[2]["key"] is None and lines[2]["class"] == "synthetic_cannabinoid"


def test_detect_methods_and_series(tmp_path: Path, capsys) -> None:  # noqa: ANN001
    assert main(["detect", "methods"]) == 0
    assert {"farrington", "ears_c1", "ears_c2", "ears_c3"} <= set(capsys.readouterr().out.split())
    rows = ["series_id,period,count"] + [f"s,{week},{2 if week < 20 else 15}" for week in range(21)]
    (tmp_path / "s.csv").write_text("\n".join(rows) + "\n")
    assert main(["detect", "series", "--input", str(tmp_path / "s.csv"), "--method", "ears_c2"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "series_id,period,expected,upper,alarm"
    assert out[1] == "s,0,,,"  # not enough history: all three empty
    assert out[-1].endswith(",1")  # 15 against a steady 2


def test_broken_pipe_is_not_an_error(tmp_path: Path) -> None:
    rows = ["series_id,period,count"] + [f"s,{week},1" for week in range(50_000)]
    (tmp_path / "s.csv").write_text("\n".join(rows) + "\n")
    pipeline = subprocess.run(
        f"{sys.executable} -m services.cli detect series --input {tmp_path / 's.csv'} --method ears_c1 | head -1",
        shell=True, capture_output=True, text=True, check=False)
    assert pipeline.stdout == "series_id,period,expected,upper,alarm\n"
    assert "Traceback" not in pipeline.stderr
