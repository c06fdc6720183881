"""The `liftlab` command: parse, call the library, print. No logic lives here."""

from __future__ import annotations

import sys
from collections.abc import Callable
from functools import wraps
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

import liftlab
from liftlab.errors import LiftlabError

app = typer.Typer(
    help="Find out why an image classifier is stuck, and prove which remedies lift it.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
data_app = typer.Typer(help="Inspect data sets.", no_args_is_help=True)
app.add_typer(data_app, name="data")

console = Console()
errors = Console(stderr=True)
F = TypeVar("F", bound=Callable[..., Any])

DataArg = Annotated[
    str,
    typer.Argument(help="A folder (ImageFolder layout), a CSV of path,label, builtin:NAME or torchvision:NAME."),
]


def reports_errors(command: F) -> F:
    """Turn liftlab's own errors into a message on stderr and the documented exit code."""

    @wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return command(*args, **kwargs)
        except LiftlabError as error:
            errors.print(f"[red]error:[/red] {escape(str(error))}", highlight=False, soft_wrap=True)
            raise typer.Exit(error.exit_code) from None

    return wrapper  # type: ignore[return-value]


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
    epochs: Annotated[int | None, typer.Option(help="Epochs (same as --set epochs=N).")] = None,
    seed: Annotated[int | None, typer.Option(help="Seed (same as --set seed=S).")] = None,
    out: Annotated[Path, typer.Option(help="Run folder to write.")] = Path("runs/train"),
    resume: Annotated[bool, typer.Option(help="Continue the run in --out from its last checkpoint.")] = False,
    skip_bad: Annotated[
        bool, typer.Option(help="Train on the usable images; list the skipped ones in metrics.json.")
    ] = False,
    quiet: Annotated[bool, typer.Option(help="No progress bars.")] = False,
) -> None:
    """Train one recipe and write a run folder (recipe, history, metrics, weights, classes)."""
    from liftlab.config import Recipe, apply_overrides, load_recipe
    from liftlab.train.run import train_run

    base = load_recipe(recipe) if recipe else Recipe()
    overrides = list(set_ or [])
    if epochs is not None:
        overrides.append(f"epochs={epochs}")
    if seed is not None:
        overrides.append(f"seed={seed}")
    resolved = apply_overrides(base, overrides)
    metrics = train_run(data, resolved, out, skip_bad=skip_bad, resume=resume, quiet=quiet)
    if metrics["stopped_reason"]:
        errors.print(f"[yellow]stopped:[/yellow] {metrics['stopped_reason']}")
    test = "n/a" if metrics["test_acc"] is None else f"{metrics['test_acc']:.4f}"
    val = "n/a" if metrics["val_acc"] is None else f"{metrics['val_acc']:.4f}"
    console.print(
        f"val_acc {val}  test_acc {test}  {metrics['images_per_second']:.0f} img/s  "
        f"{metrics['dtype']} on {metrics['device']}  -> {out}"
    )
    if metrics["skipped"]:
        console.print(f"skipped {len(metrics['skipped'])} unusable file(s); listed in {out / 'metrics.json'}")


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
        console.print("splits: made by liftlab (stratified, fixed seed)")
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
    console.print(f"unreadable files: {len(report.unreadable)}")
    for bad in report.unreadable:
        console.print(f"  [red]{escape(bad.path)}[/red]: {escape(bad.reason)}", highlight=False, soft_wrap=True)
    if json_path is not None:
        write_json(json_path, report.to_dict())
    if report.unreadable and not skip_bad:
        raise typer.Exit(2)


def main() -> None:  # pragma: no cover - console entry point alias
    app(sys.argv[1:])


__all__ = ["app"]
