"""Synthetic training windows with exact ground truth: the library behind `framegen synth`.

A scene is a background and a few layers that move along smooth random trajectories (translation,
rotation, scale and a slight non-rigid wobble), occlude each other and enter or leave the frame. Layers
look like flat-colour cartoon shapes with dark outlines (polygons, ellipses, blobs, thick strokes) or like
shapes cut from textures: real images from `--textures`, else procedural noise, gradients and stripes.

A scene is a pure function of (seed, scene index, t), with t continuous and running from 0 to 1 across
the window: `Scene.render(t)` is the exact ground truth at any t. Frame k of a stored window is
`render(drawing_time(k))`, which is `render(k / (T - 1))` unless the window is held on twos, and the
in-between at any other t is one call away.

Per window, drawn from the scene's own RNG:
- held frames "on twos" (`hold_rate`): frames 2j and 2j+1 show the drawing of time 2j / (T - 1);
- a global lighting change (`lighting`): brightness and colour gains that drift across the window;
- motion blur (`motion_blur`): the frame at t averages the scene over a shutter interval around t.

Speed: each layer is drawn once per scene as a premultiplied RGBA sprite and warped per frame by an
affine over its bounding box only (cv2.warpAffine), or by cv2.remap for wobbling layers.

Files: textures.py (real and procedural textures, colours), drawing.py (sprites and backgrounds, drawn
once per scene), scene.py (the options, trajectories, layers, `Scene` and `SynthDataset`), writer.py
(`write_synth_dataset`: the dataset format of framegen.core.formats.dataset, kind "synthetic", written by worker
processes; each window has its own seed (seed, index), so the bytes do not depend on the worker count).
`SynthDataset` renders the same windows on the fly inside a training loader. No torch at import time.
"""

from framegen.core.stages.synth.scene import TRAVEL, Scene, SynthConfig, SynthDataset
from framegen.core.stages.synth.textures import load_textures
from framegen.core.stages.synth.writer import write_synth_dataset

__all__ = ["TRAVEL", "Scene", "SynthConfig", "SynthDataset", "load_textures", "write_synth_dataset"]
