"""Image quality metrics on frames in [0, 1]: PSNR, SSIM, MS-SSIM (pytorch-msssim, data_range=1).

All functions take `(N, 3, H, W)` float tensors in [0, 1] and return one value per image, `(N,)`.
MS-SSIM at 5 scales needs a short side above 160 px; smaller images use as many scales as fit.
"""

from __future__ import annotations

import torch
from pytorch_msssim import ssim as _ssim
from pytorch_msssim.ssim import _fspecial_gauss_1d, _ssim as _ssim_and_cs

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
    # pytorch-msssim's own loop (its ms_ssim() asserts > 160 px even when given fewer scales' weights)
    x, y = prediction.float(), target.float()
    window = _fspecial_gauss_1d(11, 1.5).repeat([x.shape[1], 1, 1, 1])
    contrasts = []
    for scale in range(scales):
        ssim_per_channel, contrast = _ssim_and_cs(x, y, data_range=1.0, win=window, size_average=False)
        if scale < scales - 1:
            contrasts.append(torch.relu(contrast))
            padding = [s % 2 for s in x.shape[2:]]
            x = torch.nn.functional.avg_pool2d(x, kernel_size=2, padding=padding)
            y = torch.nn.functional.avg_pool2d(y, kernel_size=2, padding=padding)
    per_scale = torch.stack(contrasts + [torch.relu(ssim_per_channel)])  # (scales, N, C)
    return (per_scale ** weights.view(-1, 1, 1)).prod(0).mean(1)


def all_metrics(prediction: torch.Tensor, target: torch.Tensor) -> dict[str, torch.Tensor]:
    """{"psnr", "ssim", "ms_ssim"} -> (N,) each."""
    return {"psnr": psnr(prediction, target), "ssim": ssim(prediction, target), "ms_ssim": ms_ssim(prediction, target)}
