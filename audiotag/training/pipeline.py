"""The input pipeline split in two halves around the clip bank.

``clip_item`` runs once per clip: silence trimming (optional), then for the 2D features the dB feature of the
*whole* clip ``(C, F, T)`` (for the 1D net, the waveform itself ``(1, N)``). These are what the bank holds.
``model_input`` runs per batch, on crops taken from the bank: waveform crops are peak/RMS normalised; feature crops
are standardised and resized to the network's image (3 x 299 x 299 in the paper).

Training, validation, test prediction and ``audiotag predict`` all go through these two functions, so a model
always sees exactly the preprocessing it was trained with.
"""
from __future__ import annotations

import numpy as np
import torch

from audiotag.features.config import FeatureConfig
from audiotag.features.spectral import (FeatureExtractor, frames_for, normalize_waves, prepare_clip, resize_to_image,
                                        samples_for, standardize)


class InputPipeline:
    def __init__(self, cfg: FeatureConfig, device: torch.device | str = "cpu"):
        self.cfg = cfg
        self.device = torch.device(device)
        self.extractor = FeatureExtractor(cfg).to(self.device)

    @property
    def is_waveform(self) -> bool:
        return self.cfg.kind == "waveform"

    def crop_length(self, seconds: float) -> int:
        """A crop of ``seconds`` in bank units: samples for waveforms, STFT frames for features
        (the paper's 299 frames at hop 512 are 3.47 s)."""
        samples = int(round(seconds * self.cfg.sample_rate))
        return samples if self.is_waveform else frames_for(self.cfg, samples)

    @torch.no_grad()
    def clip_item(self, wave: np.ndarray) -> torch.Tensor:
        """The bank representation of one whole clip (a 1-D float waveform at ``cfg.sample_rate``)."""
        wave = prepare_clip(np.asarray(wave, dtype=np.float32), self.cfg)
        x = torch.as_tensor(wave, dtype=torch.float32, device=self.device)[None]
        if self.is_waveform:
            return x
        return self.extractor.spectral(normalize_waves(x, self.cfg.normalize))[0]

    def model_input(self, crops: torch.Tensor) -> torch.Tensor:
        """Network input for a batch of bank crops: (B, 1, N) waveforms or (B, C, F, T) dB features."""
        crops = crops.float()
        if self.is_waveform:
            return normalize_waves(crops[:, 0], self.cfg.normalize)[:, None]
        x = standardize(crops, self.cfg.standardize)
        if self.cfg.image_size is not None:
            x = resize_to_image(x, self.cfg.image_size)
        return x

    def input_shape(self, crop: int) -> tuple[int, ...]:
        """The network input shape (no batch axis) for a crop of ``crop`` bank units."""
        if self.is_waveform:
            return (1, crop)
        c, f, _ = self.extractor.feature_shape(samples_for(self.cfg, crop))
        return (3, self.cfg.image_size, self.cfg.image_size) if self.cfg.image_size else (c, f, crop)
