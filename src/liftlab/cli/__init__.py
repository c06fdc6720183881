"""The `liftlab` command: parse, call the library, print. No logic lives here.

The commands live in `train.py` (one run and its parts), `experiments.py` (many runs), `evaluation.py` and `review.py`
(the data review);
importing them here registers them on `app`, the entry point.
"""

# registration order is the order `liftlab --help` lists the commands in
from liftlab.cli import train  # isort: skip
from liftlab.cli import experiments  # isort: skip
from liftlab.cli import evaluation  # isort: skip
from liftlab.cli import review  # isort: skip
from liftlab.cli.common import app

__all__ = ["app", "evaluation", "experiments", "review", "train"]
