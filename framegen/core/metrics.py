"""Image quality metrics on frames in [0, 1]: PSNR, SSIM, MS-SSIM (pytorch-msssim, data_range=1).

All functions take `(N, 3, H, W)` float tensors in [0, 1] and return one value per image, `(N,)`.
MS-SSIM at 5 scales needs a short side above 160 px; smaller images use as many scales as fit.
"""

from __future__ import annotations

import torch
from pytorch_msssim import ms_ssim as _ms_ssim
from pytorch_msssim import ssim as _ssim

MS_SSIM_WEIGHTS = (0.0448, 0.2856, 0.3001, 0.2363, 0.1333)


def psnr(prediction: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    mse = (prediction.float() - target.float()).pow(2).flatten(1).mean(1)
    return 10.0 * torch.log10(1.0 / mse.clamp_min(1e-10))


def ssim(prediction: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    return _ssim(prediction.float(), target.float(), data_range=1.0, size_average=False)


def ms_ssim_scales(height: int, width: int) -> int:
    """How many MS-SSIM scales fit: the image must stay larger than (win_size - 1) * 2**(scales - 1)."""
    short = min(height, width)
    scales = len(MS_SSIM_WEIGHTS)
    while scales > 1 and short <= 10 * 2 ** (scales - 1):
        scales -= 1
    return scales


def ms_ssim(prediction: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    scales = ms_ssim_scales(*prediction.shape[-2:])
    if scales < 2:
        return ssim(prediction, target)
    weights = torch.tensor(MS_SSIM_WEIGHTS[:scales], device=prediction.device)
    weights = weights / weights.sum()
    return _ms_ssim(prediction.float(), target.float(), data_range=1.0, size_average=False, weights=weights)


def all_metrics(prediction: torch.Tensor, target: torch.Tensor) -> dict[str, torch.Tensor]:
    """{"psnr", "ssim", "ms_ssim"} -> (N,) each."""
    return {"psnr": psnr(prediction, target), "ssim": ssim(prediction, target), "ms_ssim": ms_ssim(prediction, target)}
