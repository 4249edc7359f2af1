"""evals: metrics, probes and reports for learned world simulators.

Metrics (FVD, LPIPS, PSNR, ...) follow the torchmetrics ``Metric`` contract and are checked
against reference implementations; pretrained feature networks are located with
:func:`simworld.weights.find_weight`. Implemented so far: :mod:`evals.metrics` (FVD, LPIPS,
PSNR, SSIM and per-frame curves; see ``docs/metrics.md``).
"""
