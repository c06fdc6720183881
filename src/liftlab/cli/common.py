"""What every command shares: the app, the consoles, the error wrapper, the common options, and the one
place a command's recipe is built from --recipe, --strategies and --set."""

from __future__ import annotations

import os
import traceback
from collections.abc import Callable
from functools import wraps
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import click
import typer
from rich.console import Console
from rich.markup import escape

from liftlab.errors import LiftlabError
from liftlab.records.runs import LeakFreeAccuracy

if TYPE_CHECKING:
    from liftlab.config import Recipe

app = typer.Typer(
    help="Find out why an image classifier is stuck, and prove which remedies lift it.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


@app.callback()
def before_every_command() -> None:
    """Find out why an image classifier is stuck, and prove which remedies lift it."""
    from liftlab.train.allocator import keep_freed_memory

    keep_freed_memory()  # a CPU training step reuses its freed activations (train/allocator.py)


data_app = typer.Typer(help="Inspect data sets.", no_args_is_help=True)
app.add_typer(data_app, name="data")
augment_app = typer.Typer(help="See augmentations before trusting them.", no_args_is_help=True)
app.add_typer(augment_app, name="augment")

console = Console()
errors = Console(stderr=True)
F = TypeVar("F", bound=Callable[..., Any])

DataArg = Annotated[
    str,
    typer.Argument(help="A folder (ImageFolder layout), a CSV of path,label, builtin:NAME or torchvision:NAME."),
]

StorageOption = Annotated[
    str | None,
    typer.Option(envvar="LIFTLAB_STORAGE", help="Optuna storage URL, e.g. postgresql://user:pw@host/db."),
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
        except (typer.Exit, typer.Abort, click.ClickException):  # how commands end on purpose
            raise
        except Exception:  # a crash: show the traceback, with any storage password taken out
            from liftlab.redaction import scrub

            text = traceback.format_exc()
            for url in (kwargs.get("storage"), os.environ.get("LIFTLAB_STORAGE")):
                text = scrub(text, url)
            errors.print(text, highlight=False, soft_wrap=True, markup=False)
            raise typer.Exit(1) from None

    return wrapper  # type: ignore[return-value]


def base_recipe(recipe: Path | None, overrides: list[str] | None, strategies: str | None = None) -> Recipe:
    """The command's recipe: --recipe (a YAML file or a built-in name; default liftlab's), then --strategies
    in order, then every --set."""
    from liftlab.config import Recipe, apply_overrides, load_recipe
    from liftlab.strategies import apply_strategies

    base = load_recipe(recipe) if recipe else Recipe()
    if strategies:
        base = apply_strategies(base, strategies)
    return apply_overrides(base, list(overrides or []))


def _without_option(argv: list[str], name: str) -> list[str]:
    """argv without `name VALUE` or `name=VALUE`."""
    kept: list[str] = []
    skip = False
    for arg in argv:
        if skip:
            skip = False
        elif arg == name:
            skip = True
        elif not arg.startswith(f"{name}="):
            kept.append(arg)
    return kept


def print_leak_free(clean: LeakFreeAccuracy | None, metric: str) -> None:
    """The test figure without the test images that have an exact copy in train or val, where any has."""
    if clean is None:
        return
    low, high = clean.ci95
    console.print(
        f"[yellow]{clean.left_out} test image(s) have an exact copy in train or val[/yellow]: {metric} without them "
        f"(leak-free, {clean.images} images) {clean.value:.4f} (95% CI {low:.4f} to {high:.4f})"
    )


TrackOption = Annotated[
    str | None,
    typer.Option(
        "--track",
        help="Mirror the runs into this MLflow tracking server (or $LIFTLAB_TRACKING_URI); needs liftlab[track].",
    ),
]
