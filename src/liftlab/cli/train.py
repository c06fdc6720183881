"""`liftlab version`, `train`, `data check`, `strategies` and `augment preview`: one run, and the data and
remedies it is made of."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

import liftlab
from liftlab.cli.common import (
    DataArg,
    TrackOption,
    _without_option,
    app,
    augment_app,
    base_recipe,
    console,
    data_app,
    errors,
    print_leak_free,
    reports_errors,
)


@app.command()
def version() -> None:
    """Print liftlab's version."""
    console.print(liftlab.__version__)


@app.command()
@reports_errors
def train(
    data: DataArg,
    recipe: Annotated[Path | None, typer.Option(help="Recipe YAML; missing fields take defaults.")] = None,
    set_: Annotated[
        list[str] | None,
        typer.Option("--set", help="Override a recipe field: --set optim.lr=0.1 (repeatable)."),
    ] = None,
    strategies: Annotated[
        str | None, typer.Option(help="Remedies to apply in order, e.g. flip,crop,size=64 (see `liftlab strategies`).")
    ] = None,
    epochs: Annotated[int | None, typer.Option(help="Epochs (same as --set epochs=N).")] = None,
    seed: Annotated[int | None, typer.Option(help="Seed (same as --set seed=S).")] = None,
    out: Annotated[Path, typer.Option(help="Run folder to write.")] = Path("runs/train"),
    resume: Annotated[bool, typer.Option(help="Continue the run in --out from its last checkpoint.")] = False,
    skip_bad: Annotated[
        bool, typer.Option(help="Train on the usable images; list the skipped ones in metrics.json.")
    ] = False,
    nproc: Annotated[
        int, typer.Option(min=1, help="Processes for one run under torch.distributed (gloo on CPU, NCCL on GPUs).")
    ] = 1,
    track: TrackOption = None,
    quiet: Annotated[bool, typer.Option(help="No progress bars.")] = False,
) -> None:
    """Train one recipe and write a run folder (recipe, history, metrics, weights, classes)."""
    import sys

    from liftlab.experiments.tracking import run_folder_record, start_tracking
    from liftlab.train import distributed
    from liftlab.train.run_folder import train_run

    if nproc > 1 and "LOCAL_RANK" not in os.environ:  # relaunch this command under torchrun
        raise typer.Exit(distributed.launch(nproc, _without_option(sys.argv[1:], "--nproc")))

    overrides = list(set_ or [])
    if epochs is not None:
        overrides.append(f"epochs={epochs}")
    if seed is not None:
        overrides.append(f"seed={seed}")
    resolved = base_recipe(recipe, overrides, strategies)
    tracker = start_tracking(track, "train", f"train {data}", {"out": str(out)}, parent=False)
    metrics = train_run(data, resolved, out, skip_bad=skip_bad, resume=resume, quiet=quiet)
    if metrics is None:  # a process other than rank 0 of a distributed run: rank 0 reports
        return
    if tracker is not None:
        tracker.log_run(run_folder_record(out, metrics), resolved.model_dump(mode="json"), data, name=str(out))
    if metrics.stopped_reason:
        errors.print(f"[yellow]stopped:[/yellow] {metrics.stopped_reason}")
    for resumed in metrics.extra.get("resumed", []):
        exactness = ("it ends as an uninterrupted run would" if resumed["exact"] else
                     "GPU kernels may add in another order, so it can differ slightly from an uninterrupted run "
                     "(set deterministic=true for an exact resume)")  # fmt: skip
        console.print(f"resumed after epoch {resumed['from_epoch']}: {exactness}")
    test = "n/a" if metrics.test_acc is None else f"{metrics.test_acc:.4f}"
    val = "n/a" if metrics.val_acc is None else f"{metrics.val_acc:.4f}"
    console.print(
        f"val_acc {val}  test_acc {test}  {metrics.images_per_second:.0f} img/s  "
        f"{metrics.dtype} on {metrics.device}  -> {out}"
    )
    print_leak_free(metrics.test_leak_free, "test_acc")
    if metrics.skipped:
        console.print(f"skipped {len(metrics.skipped)} unusable file(s); listed in {out / 'metrics.json'}")


@data_app.command("check")
@reports_errors
def data_check(
    data: DataArg,
    json_path: Annotated[Path | None, typer.Option("--json", help="Also write the report as JSON here.")] = None,
    skip_bad: Annotated[bool, typer.Option(help="Exit 0 even when unreadable files are found.")] = False,
    quiet: Annotated[bool, typer.Option(help="No progress bars.")] = False,
) -> None:
    """Counts per class and split, image sizes, unreadable files, duplicates, empty classes."""
    from liftlab.data.check import check_data
    from liftlab.io import write_json

    report = check_data(data, quiet=quiet)
    table = Table(title=f"{data}: images per class")
    splits = [s for s in ("train", "val", "test") if s in report.counts]
    table.add_column("class")
    for split in splits:
        table.add_column(split, justify="right")
    for name in report.classes:
        table.add_row(name, *(str(report.counts[s][name]) for s in splits))
    console.print(table)
    if report.splits_made_by_liftlab:
        console.print("splits: made by liftlab (stratified, fixed seed, exact duplicates kept in one split)")
    elif report.split_folders:
        where = [
            f"{split} <- " + (f"folder {escape(folder)}/" if folder else "carved from train by liftlab")
            for split, folder in report.split_folders.items()
        ]
        console.print("splits: " + "; ".join(where), highlight=False, soft_wrap=True)
    ratio = "n/a" if report.imbalance_ratio is None else f"{report.imbalance_ratio:.2f}"
    console.print(f"imbalance ratio (largest / smallest class): {ratio}")
    for what, spread in report.image_size.items():
        if spread:
            console.print(f"{what}: min {spread['min']:.3g}  median {spread['median']:.3g}  max {spread['max']:.3g}")
    console.print(f"non-image files ignored: {len(report.non_image_files)}")
    if report.empty_classes:
        console.print(f"[yellow]empty classes:[/yellow] {', '.join(report.empty_classes)}")
    console.print(
        f"duplicate groups within a split: {len(report.duplicates_within)}; "
        f"across splits: {len(report.duplicates_across)}"
    )
    for group in report.duplicates_across[:10]:
        console.print(f"  [yellow]across splits:[/yellow] {escape(', '.join(group))}", highlight=False, soft_wrap=True)
    if report.leaked_test:
        console.print(
            f"[yellow]test images with an exact copy in train or val: {len(report.leaked_test)}[/yellow] (their "
            "scores are not held out: improve, train and evaluate also report accuracy without them, leak-free)",
            highlight=False,
            soft_wrap=True,
        )
    for hidden in report.hidden_folders:
        console.print(f"  [yellow]skipped dot-folder:[/yellow] {escape(hidden)}", highlight=False, soft_wrap=True)
    console.print(f"unreadable files: {len(report.unreadable)}")
    for bad in report.unreadable:
        console.print(f"  [red]{escape(bad.path)}[/red]: {escape(bad.reason)}", highlight=False, soft_wrap=True)
    if json_path is not None:
        write_json(json_path, report.to_dict())
    if report.unreadable and not skip_bad:
        raise typer.Exit(2)


@app.command("strategies")
@reports_errors
def strategies_command(
    category: Annotated[str | None, typer.Option(help="Only this category.")] = None,
    json_output: Annotated[bool, typer.Option("--json", help="Print the catalogue as JSON.")] = False,
) -> None:
    """The catalogue of remedies: name, category, when each helps and when it hurts."""
    from liftlab.strategies import list_strategies

    catalogue = list_strategies(category)
    if json_output:
        typer.echo(json.dumps([s.to_json() for s in catalogue], indent=2))
        return
    table = Table(title="liftlab strategies", show_lines=True)
    for column in ("name", "category", "setting (default)", "helps when", "hurts when"):
        table.add_column(column, overflow="fold")
    for strategy in catalogue:
        setting = "" if strategy.setting is None else f"{strategy.setting.describe()} ({strategy.default})"
        table.add_row(strategy.name, strategy.category, setting, strategy.helps_when, strategy.hurts_when)
    console.print(table)


@augment_app.command("preview")
@reports_errors
def augment_preview(
    data: DataArg,
    strategies: Annotated[str, typer.Option(help="Strategies to preview, e.g. rotate,crop.")],
    out: Annotated[Path, typer.Option(help="PNG file to write.")] = Path("augment-preview.png"),
    images: Annotated[int, typer.Option(min=1, max=64, help="Training images to show (columns).")] = 8,
    rows: Annotated[int, typer.Option(min=1, max=16, help="Augmented versions of each (rows).")] = 3,
    recipe: Annotated[Path | None, typer.Option(help="Recipe YAML to start from.")] = None,
    seed: Annotated[int, typer.Option(help="Seed of the random augmentations.")] = 0,
) -> None:
    """Write a grid: the first row original training images, the rows below augmented versions."""
    from liftlab.augment.preview import preview_grid

    resolved = base_recipe(recipe, None, strategies)
    preview_grid(data, resolved, out, images=images, rows=rows, seed=seed)
    console.print(f"wrote {out}: row 1 original, rows 2-{rows + 1} with {', '.join(resolved.strategies)}")
