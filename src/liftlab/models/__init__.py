"""Models: the configurable ConvNet and torchvision architectures by name."""

from liftlab.models.convnet import ConvNet
from liftlab.models.zoo import build_model, torchvision_names

__all__ = ["ConvNet", "build_model", "torchvision_names"]
