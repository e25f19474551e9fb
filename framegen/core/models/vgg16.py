"""vgg16: the ImageNet VGG16 feature network of `framegen filter --detector vgg16` (the seed's method).

The weights come from torchvision's cache or a file the user names; there is never a download. They are
loaded with `torch.load(weights_only=True)`, so a hostile file cannot run code.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from framegen.core.errors import InputError
from framegen.core.media.convert import images_to_tensor

VGG_FILE = "vgg16-397923af.pth"  # torchvision's file name for its ImageNet VGG16 weights
VGG_URL = "https://download.pytorch.org/models/" + VGG_FILE


def vgg16_weights_path(weights: Path | None) -> Path:
    """`weights` if given, else torchvision's cached ImageNet VGG16 file; refuse (one line) when absent."""
    import torch

    if weights is not None:
        if not Path(weights).is_file():
            raise InputError(f"{weights}: no such VGG16 weights file")
        return Path(weights)
    cached = Path(torch.hub.get_dir()) / "checkpoints" / VGG_FILE
    if not cached.is_file():
        raise InputError(
            f"VGG16 weights not found at {cached}: download {VGG_URL} to that path, or pass --vgg-weights FILE "
            "(or use the default detector, which needs no weights)"
        )
    return cached


def vgg16_features(weights: Path | None):
    """A function: list of uint8 (H, W, 3) RGB frames -> float (N, D) unit-length VGG16 feature maps."""
    import torch
    from torchvision.models.vgg import cfgs, make_layers

    path = vgg16_weights_path(weights)
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # pickle, zip and torch errors all mean the same to the user
        raise InputError(f"{path}: not a readable PyTorch weights file ({type(e).__name__})") from None
    network = make_layers(cfgs["D"])  # VGG16's convolutional part
    prefix = "features."
    state = state if isinstance(state, dict) else {}
    features_state = {key[len(prefix) :]: value for key, value in state.items() if key.startswith(prefix)}
    try:
        network.load_state_dict(features_state)
    except RuntimeError:
        raise InputError(f"{path}: does not hold torchvision VGG16 weights (features.* tensors)") from None
    network.eval()
    mean = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
    std = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)

    def embed(images: list[np.ndarray]) -> np.ndarray:
        batch = np.stack([cv2.resize(image, (224, 224), interpolation=cv2.INTER_AREA) for image in images])
        x = images_to_tensor(batch)  # (N, 3, 224, 224) in [0, 1]
        with torch.inference_mode():
            maps = network((x - mean) / std).flatten(1)  # (N, 512 * 7 * 7)
        return torch.nn.functional.normalize(maps, dim=1).numpy()

    return embed
