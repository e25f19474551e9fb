"""Make docs/synth_examples.gif: five synthetic windows side by side, played forwards then backwards.

    apt-get install gnome-backgrounds pingus-data   # real artwork for the textured scenes (optional)
    python docs/make_synth_examples.py /usr/share/backgrounds/gnome /usr/share/games/pingus/data/images
"""

import sys
from pathlib import Path

import numpy as np
from PIL import Image

from framegen.core.stages.synth import Scene, SynthConfig, load_textures

art = [texture for folder in sys.argv[1:] for texture in load_textures(Path(folder))]
picks = [  # (config, textures, scene index): procedural and real-artwork scenes, each motion size
    (SynthConfig(size=160, motion="mixed"), [], 2),
    (SynthConfig(size=160, motion="large"), art, 1),
    (SynthConfig(size=160, motion="medium"), art, 4),
    (SynthConfig(size=160, motion="large"), [], 4),
    (SynthConfig(size=160, motion="medium"), art, 6),
]
windows = [Scene(config, textures, index).render_window() for config, textures, index in picks]  # (8, H, W, 3)
gap = np.full((160, 4, 3), 255, np.uint8)
strip = [np.concatenate([part for w in windows for part in (w[k], gap)][:-1], axis=1) for k in range(8)]
frames = [Image.fromarray(f).quantize(colors=255, method=Image.Quantize.MEDIANCUT) for f in strip + strip[-2:0:-1]]
out = Path(__file__).parent / "synth_examples.gif"
frames[0].save(out, save_all=True, append_images=frames[1:], duration=110, loop=0, optimize=True)
print(f"wrote {out} ({out.stat().st_size / 1e6:.2f} MB)")
