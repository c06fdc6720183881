"""`liftlab data review` and `data apply-review`: the data's suspects for a person to look at and correct."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from liftlab.cli.common import DataArg, console, data_app, reports_errors

FOLDS_HELP = "Folds of the out-of-fold heads (each image is scored by a head that never saw it)."
OUTLIER_HELP = "Share of training and validation images flagged as outliers (the farthest from the rest)."


@data_app.command("review")
@reports_errors
def data_review(
    data: DataArg,
    out: Annotated[Path, typer.Option(help="Folder for review.csv, review.json and review.html.")] = Path(
        "runs/review"
    ),
    folds: Annotated[int, typer.Option(help=FOLDS_HELP)] = 5,
    outlier_share: Annotated[float, typer.Option(help=OUTLIER_HELP)] = 0.01,
    skip_bad: Annotated[bool, typer.Option(help="Review the usable images when some files cannot be read.")] = False,
    quiet: Annotated[bool, typer.Option(help="No progress bars.")] = False,
) -> None:
    """Wrong labels, near-copies and outliers, found through a frozen pretrained backbone: a CSV to correct
    (every training and validation image, most suspect first) and a contact sheet of the suspects."""
    from liftlab.diagnose.findings import LABEL_REVIEW_ACCURACY
    from liftlab.diagnose.review import ReviewOptions, load_for_review, review_data, write_review

    options = ReviewOptions(folds=folds, outlier_share=outlier_share, skip_bad=skip_bad, quiet=quiet)
    loaded, root = load_for_review(data, options)
    reviewed = review_data(loaded, root, options)
    review = reviewed.review
    page = write_review(reviewed, out)
    console.print(
        f"{len(review.images)} images reviewed in {review.seconds:.0f} s ({review.settings.backbone} at "
        f"{review.settings.side} px): {review.label_issues} label issue(s), {review.outliers} outlier(s), "
        f"{len(review.near_copies)} near-copy pair(s), {len(review.leaking_pairs)} of them joining a test image "
        "to a training or validation image",
        highlight=False,
        soft_wrap=True,
    )
    if review.out_of_fold_accuracy < LABEL_REVIEW_ACCURACY:
        console.print(
            f"[yellow]the heads are weak here[/yellow] ({review.out_of_fold_accuracy:.1%} out of fold, below "
            f"{LABEL_REVIEW_ACCURACY:.0%}): many suspects are their own errors, and the shares below are inflated",
            highlight=False,
        )
    noisy = sorted(review.class_noise, key=lambda c: -c.estimated_noise)[:3]
    console.print("estimated wrong labels: " + ", ".join(f"{c.name} {c.estimated_noise:.1%}" for c in noisy),
                  highlight=False)  # fmt: skip
    for image in review.label_suspects(5):
        console.print(f"  {escape(image.path)}: given {escape(image.given_label)}, looks like "
                      f"{escape(image.suggested_label or '')} (score {image.score:.2f})", highlight=False,
                      soft_wrap=True)  # fmt: skip
    console.print(f"wrote {out / 'review.csv'} (correct the column 'label'), {out / 'review.json'}, {page}",
                  highlight=False, soft_wrap=True)  # fmt: skip


@data_app.command("apply-review")
@reports_errors
def data_apply_review(
    review_csv: Annotated[Path, typer.Argument(help="A review.csv written by `liftlab data review`, corrected.")],
    out: Annotated[Path, typer.Option(help="The labels CSV to write, in the data folder (paths relative to it).")],
) -> None:
    """Write the corrected labels as a new labels CSV (path,label,split); images are never moved or deleted.

    Where liftlab made the splits, each group of near-copies the review found is put in one split."""
    from liftlab.diagnose.review_csv import apply_review

    applied = apply_review(review_csv, out)
    moved = f", {applied.moved} moved so that each group of near-copies is in one split" if applied.moved else ""
    console.print(
        f"wrote {applied.written}: {applied.kept} images, {applied.changed} label(s) changed, "
        f"{applied.left_out} left out{moved}; train on it with `liftlab train {applied.written}`",
        highlight=False,
        soft_wrap=True,
    )
