"""Training: the fit() loop, schedules, precision choice, checkpoints and the run folder."""

from liftlab.train.fitted import FitResult, resolve_device
from liftlab.train.inference import Preprocess, evaluate, predict_logits
from liftlab.train.loop import fit
from liftlab.train.run_folder import train_run
from liftlab.train.schedules import lr_at

__all__ = [
    "FitResult",
    "Preprocess",
    "evaluate",
    "fit",
    "lr_at",
    "predict_logits",
    "resolve_device",
    "train_run",
]
