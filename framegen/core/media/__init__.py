"""Pixels and files: images, conversions to tensors, movies and ffmpeg, animation files, quality metrics and
classical optical flow. Nothing here knows about stages, engines or networks."""
