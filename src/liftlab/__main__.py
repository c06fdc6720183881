"""`python -m liftlab` runs the CLI."""

from liftlab.cli import app

app(prog_name="liftlab")
