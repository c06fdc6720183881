"""Models: the configurable ConvNet and torchvision architectures by name."""

from liftlab.models.convnet import ConvNet
from liftlab.models.fastnet import FastNet, begin_epoch, fit_to_data
from liftlab.models.zoo import build_model, torchvision_names

__all__ = ["ConvNet", "FastNet", "begin_epoch", "build_model", "fit_to_data", "torchvision_names"]
