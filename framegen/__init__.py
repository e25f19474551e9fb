"""framegen: animate images by frame interpolation."""

__version__ = "0.1.0"
