"""Data: sources, decoding and its cache, splits and checks.

Importing the package registers every builtin data set (digits here, the shapes family in `shapes`).
"""

from liftlab.data import shapes
from liftlab.data.cache import cache_root
from liftlab.data.images import BadFile
from liftlab.data.loading import ImageData, ImageSplit, load_data
from liftlab.data.sources import Source, open_source

__all__ = ["BadFile", "ImageData", "ImageSplit", "Source", "cache_root", "load_data", "open_source", "shapes"]
