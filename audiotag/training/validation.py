"""Scoring whole clips of a bank with a network: validation, out-of-fold and test predictions.

Clips in a :class:`~audiotag.training.bank.ClipBank` (waveforms or full-clip features) are cut into crops by an
:class:`~audiotag.training.config.InferenceConfig` (the centre, or windows covering the clip), scored in batches
under autocast, and window probabilities are averaged per clip. :mod:`audiotag.inference.predictor` uses the same
function for ``audiotag predict``, on a bank of the same dtype (:func:`~audiotag.training.bank.bank_dtype`), so
validation and inference never differ. The averaging is deterministic on a GPU too
(:func:`~audiotag.training.bank.average_windows`).
"""
from __future__ import annotations

import numpy as np
import torch

from audiotag.training.bank import ClipBank, average_windows
from audiotag.training.config import InferenceConfig
from audiotag.training.devices import autocast
from audiotag.training.pipeline import InputPipeline


def evaluation_crops(bank: ClipBank, clips: torch.Tensor, n: int,
                     inference: InferenceConfig) -> tuple[torch.Tensor, torch.Tensor]:
    """The crops ``inference`` scores for ``clips`` (indices into ``bank``), ``n`` bank units each, and the clip
    (position in ``clips``) each crop belongs to: the centre of each clip, or its evenly spaced windows."""
    if inference.mode == "center":
        return bank.center_crops(clips, n), torch.arange(len(clips), device=bank.device)
    w = bank.window_crops(clips, n, inference.n_crops, inference.max_crops)
    return w.data, w.owner


@torch.no_grad()
def predict_bank(model: torch.nn.Module, bank: ClipBank, pipeline: InputPipeline, inference: InferenceConfig,
                 clips=None, *, batch_size: int = 64, amp_dtype: torch.dtype | None = None,
                 channels_last: bool = False) -> np.ndarray:
    """Class probabilities ``(n_clips, n_classes)`` for ``clips`` (indices into ``bank``; default all)."""
    model.eval()
    device = bank.device
    clips = torch.arange(len(bank), device=device) if clips is None else torch.as_tensor(clips, device=device)
    n = pipeline.crop_length(inference.crop_seconds)
    out = []
    # Chunks of clips: windows of one chunk are scored together, then averaged back to their clips.
    chunk = max(1, batch_size // (1 if inference.mode == "center" else max(1, min(inference.max_crops, 4))))
    for start in range(0, len(clips), chunk):
        part = clips[start:start + chunk]
        crops, owner = evaluation_crops(bank, part, n, inference)
        probs = []
        for b in range(0, len(crops), batch_size):
            x = pipeline.model_input(crops[b:b + batch_size])
            if channels_last and x.ndim == 4:
                x = x.contiguous(memory_format=torch.channels_last)
            with autocast(device, amp_dtype):
                logits = model(x)
            probs.append(torch.softmax(logits.float(), dim=1))
        out.append(average_windows(torch.cat(probs), owner, len(part)))
    return torch.cat(out).cpu().numpy().astype(np.float32)
