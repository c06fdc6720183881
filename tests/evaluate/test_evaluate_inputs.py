"""Bad predictions files: exit 2 with the file, the line and the field named."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from liftlab.cli import app

runner = CliRunner()

GOOD = "id,y_true,cat,dog\n1,cat,0.8,0.2\n2,dog,0.3,0.7\n3,dog,0.4,0.6\n"
CASES = {
    "missing y_true": ("id,label,cat,dog\n1,cat,0.8,0.2\n", r"line 1: missing column 'y_true'"),
    "no predictions": ("id,y_true\n1,cat\n", r"line 1: expected a 'y_pred' column or one probability column"),
    "labels alone define the classes": ("y_true,y_pred\ncat,cat\ndog,cat\n", None),  # legal, not an error
    "unknown class with probabilities": (
        "y_true,cat,dog\ncat,0.8,0.2\nbird,0.5,0.5\n",
        r"line 3, column 'y_true': unknown class 'bird'; expected one of \['cat', 'dog'\]",
    ),
    "NaN probability": ("y_true,cat,dog\ncat,nan,0.2\n", r"line 2, column 'cat': expected a probability in \[0, 1\]"),
    "negative probability": (
        "y_true,cat,dog\ncat,1.2,-0.2\n",
        r"line 2, column 'cat': expected a probability in \[0, 1\], found '1.2'",
    ),
    "text probability": (
        "y_true,cat,dog\ncat,high,0.2\n",
        r"line 2, column 'cat': expected a probability, found 'high'",
    ),
    "rows not summing to 1": ("y_true,cat,dog\ncat,0.8,0.2\ndog,0.5,0.6\n", r"line 3: probabilities sum to 1.1"),
    "empty file": ("", r"empty file"),
    "header only": ("y_true,y_pred\n", r"no prediction rows after the header"),
    "short row": ("y_true,cat,dog\ncat,0.8\n", r"line 2: expected 3 fields, found 2"),
    "empty y_true": ("y_true,y_pred\ncat,cat\n,dog\n", r"line 3, column 'y_true': empty"),
    "empty y_pred": ("y_true,y_pred\ncat,cat\ndog, \n", r"line 3, column 'y_pred': empty"),
    "duplicate id": ("id,y_true,y_pred\n7,cat,cat\n7,dog,dog\n", r"column 'id': item id '7' appears more than once"),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_bad_predictions_exit_2_naming_file_line_and_field(case: str, tmp_path: Path) -> None:
    text, message = CASES[case]
    path = tmp_path / "predictions.csv"
    path.write_text(text)
    result = runner.invoke(app, ["evaluate", "--predictions", str(path), "--out", str(tmp_path / "out")])
    if message is None:
        assert result.exit_code == 0, result.output
        return
    assert result.exit_code == 2, result.output
    assert str(path) in result.output
    assert re.search(message, " ".join(result.output.split())), result.output


def test_compare_refuses_files_of_different_items(tmp_path: Path) -> None:
    first = tmp_path / "a.csv"
    first.write_text(GOOD)
    second = tmp_path / "b.csv"
    second.write_text(GOOD.replace("3,dog", "4,dog"))
    result = runner.invoke(app, ["evaluate", "--compare", str(first), str(second), "--out", str(tmp_path / "out")])
    assert result.exit_code == 2
    flat = " ".join(result.output.split())
    assert "do not hold the same items: 1 id(s) only in" in flat and "['3']" in flat and "['4']" in flat


def test_compare_refuses_disagreeing_labels(tmp_path: Path) -> None:
    first = tmp_path / "a.csv"
    first.write_text(GOOD)
    second = tmp_path / "b.csv"
    second.write_text(GOOD.replace("2,dog", "2,cat"))
    result = runner.invoke(app, ["evaluate", "--compare", str(first), str(second), "--out", str(tmp_path / "out")])
    assert result.exit_code == 2
    assert "y_true differs for 1 item(s), first 2" in " ".join(result.output.split())


def test_business_options_are_checked(tmp_path: Path) -> None:
    path = tmp_path / "p.csv"
    path.write_text(GOOD)
    base = ["evaluate", "--predictions", str(path), "--out", str(tmp_path / "out")]
    result = runner.invoke(app, [*base, "--goal", "50"])
    assert result.exit_code == 2 and "--target-class" in result.output
    result = runner.invoke(app, [*base, "--target-class", "horse", "--goal", "5"])
    assert result.exit_code == 2 and "unknown class 'horse'" in " ".join(result.output.split())
    result = runner.invoke(app, [*base, "--target-class", "dog", "--max-profit"])
    assert result.exit_code == 2 and "needs a cost or gain matrix" in " ".join(result.output.split())
