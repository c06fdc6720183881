"""The data review's parts on known answers: out-of-fold heads and cleanlab on synthetic features, the near-copy
rule, `liftlab data review` on a folder with two mislabelled images (CSV contract, contact sheet in Chromium),
and `data apply-review` with its errors."""

from __future__ import annotations

import csv
import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from liftlab.cli import app
from liftlab.data.loading import load_data
from liftlab.diagnose.review_csv import apply_review
from liftlab.errors import BadInputError
from liftlab.records.review import REVIEW_COLUMNS
from liftlab.train import label_faults, neighbours
from tests.conftest import COLOURS, save_image

runner = CliRunner()
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


def test_out_of_fold_heads_and_cleanlab_rank_flipped_labels_first() -> None:
    rng = np.random.default_rng(0)
    truth = np.repeat(np.arange(4), 60)
    features = rng.normal(size=(240, 16)) + np.eye(4, 16)[truth] * 6.0
    labels = truth.copy()
    flipped = rng.choice(np.flatnonzero(truth == 0), 12, replace=False)  # 12 images of class 0 labelled 1
    labels[flipped] = 1
    folds = label_faults.folds_for(labels)
    faults = label_faults.label_faults(labels, label_faults.out_of_fold_probabilities(features, labels, 4), folds)
    top = set(np.argsort(-faults.suspicion)[:12].tolist())
    assert len(top & set(flipped.tolist())) >= 11
    # cleanlab's flags are conservative (confident examples only) but precise
    clean = np.setdiff1d(np.arange(240), flipped)
    assert faults.issue[flipped].mean() >= 0.4 and faults.issue[clean].mean() <= 0.05
    assert (faults.suggested[flipped] == 0).sum() >= 11
    assert faults.suspicion.min() >= 0.0 and faults.suspicion.max() <= 1.0
    assert set(faults.confused_pairs[0][:2]) == {0, 1}
    assert int(np.argmax(faults.class_noise)) == 1, faults.class_noise  # images labelled 1 that are not


def test_a_class_with_one_image_is_an_error_that_says_so() -> None:
    with pytest.raises(BadInputError, match="a class has 1 image"):
        label_faults.folds_for(np.array([0, 0, 0, 1]))
    assert label_faults.folds_for(np.array([0, 0, 0, 1, 1, 1])) == 3


def test_near_copy_rule_joins_parallel_features_and_close_ones_with_equal_hashes() -> None:
    rng = np.random.default_rng(1)
    base = rng.normal(size=(6, 32))
    features = np.concatenate([base, base[:3] + rng.normal(scale=0.05, size=(3, 32))])  # 6-8 copy 0-2
    hashes = rng.integers(0, 2**63, size=9).astype(np.uint64)
    pairs = neighbours.near_copies(features, hashes)
    assert {(p.first, p.second) for p in pairs} == {(0, 6), (1, 7), (2, 8)}
    assert neighbours.copy_groups(9, pairs) == [0, 1, 2, 3, 4, 5, 0, 1, 2]
    # close but not parallel: a copy only when the hashes agree too
    close = np.concatenate([base, base[:1] + rng.normal(scale=0.35, size=(1, 32))])
    similarity = float((neighbours.unit_rows(close[[0]]) @ neighbours.unit_rows(close[[6]]).T)[0, 0])
    assert neighbours.CLOSE_FEATURES <= similarity < neighbours.SIMILAR_FEATURES
    unequal = rng.integers(0, 2**63, size=7).astype(np.uint64)
    assert not neighbours.near_copies(close, unequal)
    equal = unequal.copy()
    equal[6] = equal[0] ^ np.uint64(0b111)  # 3 bits apart
    assert [(p.first, p.second, p.hash_bits) for p in neighbours.near_copies(close, equal)] == [(0, 6, 3)]


def test_outlier_scores_rank_a_far_point_first() -> None:
    rng = np.random.default_rng(2)
    features = np.concatenate([rng.normal(size=(100, 8)) + 5.0, -5.0 * np.ones((1, 8))])
    scores = neighbours.outlier_scores(features)
    assert scores.argmax() == 100 and ((scores >= 0) & (scores <= 1)).all()
    fresh = neighbours.outlier_scores(features[:100], np.stack([features[0], -features[0]]))
    assert fresh[1] > fresh[0]


@pytest.fixture(scope="module")
def reviewed(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """`data review` of a colour folder (train/ and test/) with two red images filed as green."""
    root = tmp_path_factory.mktemp("colours")
    for name, colour in COLOURS.items():
        for i in range(24):
            save_image(root / "train" / name / f"{i:03d}.png", colour, size=(24, 24), seed=i)
        for i in range(6):
            save_image(root / "test" / name / f"{i:03d}.png", colour, size=(24, 24), seed=500 + i)
    for i in range(2):
        save_image(root / "train" / "green" / f"wrong{i}.png", COLOURS["red"], size=(24, 24), seed=900 + i)
    out = root.parent / "review"
    result = runner.invoke(app, ["data", "review", str(root), "--out", str(out), "--quiet"])
    assert result.exit_code == 0, result.output
    return root, out


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as handle:
        return list(csv.DictReader(handle))


def test_review_lists_every_image_with_the_mislabelled_ones_first(reviewed: tuple[Path, Path]) -> None:
    root, out = reviewed
    rows = _rows(out / "review.csv")
    assert tuple(rows[0]) == REVIEW_COLUMNS
    data = load_data(str(root))
    assert len(rows) == len(data.train) + len(data.val) + len(data.test or [])
    splits = [row["split"] for row in rows]
    assert splits.index("test") == len(data.train) + len(data.val) and set(splits[splits.index("test") :]) == {"test"}
    wrong = {str(root / "train" / "green" / f"wrong{i}.png") for i in range(2)}
    reviewed_rows = [row for row in rows if row["split"] != "test"]
    assert {row["path"] for row in reviewed_rows[:2]} == wrong
    assert all(row["suggested_label"] == "red" and row["reason"].startswith("label issue") for row in reviewed_rows[:2])
    scores = [float(row["score"]) for row in reviewed_rows]
    assert all(0.0 <= score <= 1.0 for score in scores) and scores[0] > 0.5
    assert all(row["score"] == "" and row["suggested_label"] == "" for row in rows if row["split"] == "test")
    assert all(row["label"] == row["given_label"] for row in rows)
    record = json.loads((out / "review.json").read_text())
    assert record["settings"]["folds"] == 5 and record["label_issues"] >= 2
    assert {"label_issues", "near_copies", "outliers"} == set(record["needs"])


def test_apply_review_writes_the_corrections_as_a_labels_csv(reviewed: tuple[Path, Path], tmp_path: Path) -> None:
    root, out = reviewed
    rows = _rows(out / "review.csv")
    rows[0]["label"], rows[1]["label"] = "red", ""  # relabel one, leave the other out
    corrected = tmp_path / "corrected.csv"
    with corrected.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(REVIEW_COLUMNS))
        writer.writeheader()
        writer.writerows(rows)
    result = runner.invoke(app, ["data", "apply-review", str(corrected), "--out", str(root / "labels.csv")])
    assert result.exit_code == 0, result.output
    assert "1 label(s) changed, 1 left out" in result.output
    labels = _rows(root / "labels.csv")
    assert len(labels) == len(rows) - 1
    by_path = {row["path"]: row for row in labels}
    assert by_path[str(Path(rows[0]["path"]).relative_to(root))]["label"] == "red"
    assert str(Path(rows[1]["path"]).relative_to(root)) not in by_path
    data = load_data(str(root / "labels.csv"))  # liftlab reads it back, with the same test split
    original = load_data(str(root))
    assert sorted(data.test.names if data.test else []) == sorted(original.test.names if original.test else [])


def test_apply_review_refuses_unknown_labels_and_paths_outside_the_output_folder(
    reviewed: tuple[Path, Path], tmp_path: Path
) -> None:
    root, out = reviewed
    rows = _rows(out / "review.csv")
    rows[3]["label"] = "purple"
    corrected = tmp_path / "corrected.csv"
    with corrected.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(REVIEW_COLUMNS))
        writer.writeheader()
        writer.writerows(rows)
    with pytest.raises(BadInputError, match=r"line 5: label 'purple' is not a class.*blue, green, red"):
        apply_review(corrected, root / "never-written.csv")
    assert not (root / "never-written.csv").exists()
    with pytest.raises(BadInputError, match="outside"):
        apply_review(out / "review.csv", tmp_path / "labels.csv")
    (tmp_path / "bad.csv").write_text("path,label\nx.png,red\n")
    with pytest.raises(BadInputError, match="missing column"):
        apply_review(tmp_path / "bad.csv", tmp_path / "labels.csv")


def test_review_says_who_made_each_split(reviewed: tuple[Path, Path]) -> None:
    _, out = reviewed
    made_by = {(row["split"], row["split_made_by"]) for row in _rows(out / "review.csv")}
    assert made_by == {("train", "liftlab"), ("val", "liftlab"), ("test", "data")}  # val carved from train/


def test_apply_review_keeps_each_group_of_near_copies_in_one_split_liftlab_made(tmp_path: Path) -> None:
    def row(name: str, split: str, group: str, made_by: str) -> dict[str, str]:
        return {"path": str(tmp_path / name), "split": split, "given_label": "red", "suggested_label": "red",
                "score": "0.1", "reason": "", "copy_group": group, "split_made_by": made_by,
                "label": "red"}  # fmt: skip

    rows = [row("a.png", "train", "1", "liftlab"), row("b.png", "test", "1", "liftlab"),  # a tie goes to train
            row("c.png", "val", "2", "liftlab"), row("d.png", "val", "2", "liftlab"),
            row("e.png", "train", "2", "liftlab"),
            row("f.png", "train", "3", "data"), row("g.png", "test", "3", "data"),  # splits the user gave stay
            row("h.png", "test", "", "liftlab")]  # fmt: skip
    corrected = tmp_path / "corrected.csv"
    with corrected.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(REVIEW_COLUMNS))
        writer.writeheader()
        writer.writerows(rows)
    applied = apply_review(corrected, tmp_path / "labels.csv")
    assert applied.moved == 2
    splits = {line["path"]: line["split"] for line in _rows(tmp_path / "labels.csv")}
    assert splits == {"a.png": "train", "b.png": "train", "c.png": "val", "d.png": "val", "e.png": "val",
                      "f.png": "train", "g.png": "test", "h.png": "test"}  # fmt: skip
    old_columns = [c for c in REVIEW_COLUMNS if c not in ("copy_group", "split_made_by")]  # a review.csv of before
    with corrected.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=old_columns, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)
    assert apply_review(corrected, tmp_path / "labels.csv").moved == 0
    rows[0]["split_made_by"] = "me"
    with corrected.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(REVIEW_COLUMNS))
        writer.writeheader()
        writer.writerows(rows)
    with pytest.raises(BadInputError, match="line 2: split_made_by must be one of liftlab, data, found 'me'"):
        apply_review(corrected, tmp_path / "labels.csv")


@pytest.mark.skipif(CHROMIUM is None, reason="needs Debian's chromium (make test installs it)")
def test_the_contact_sheet_shows_the_suspects_as_pictures(reviewed: tuple[Path, Path]) -> None:
    from playwright.sync_api import sync_playwright

    _, out = reviewed
    screenshot = Path(os.environ.get("LIFTLAB_SCREENSHOTS", out)) / "review.png"
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 1100, "height": 900})
        messages: list[str] = []
        page.on("console", lambda message: messages.append(f"{message.type}: {message.text}"))
        page.on("pageerror", lambda error: messages.append(f"pageerror: {error}"))
        page.goto((out / "review.html").as_uri())
        suspects = page.evaluate(
            "Array.from(document.querySelectorAll('#label-suspects ~ .sheet')[0].querySelectorAll('img'))"
            ".map(i => [i.alt, i.complete && i.naturalWidth > 0])"
        )
        text = page.inner_text("body")
        page.screenshot(path=str(screenshot), full_page=True)
        browser.close()
    assert not messages, messages
    assert [alt.endswith(("wrong0.png", "wrong1.png")) for alt, _ in suspects[:2]] == [True, True]
    assert all(loaded for _, loaded in suspects)
    assert "suggested red" in text and "No rule is fitted on the test split" in text
