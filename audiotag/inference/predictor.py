"""A trained checkpoint as a function from waveforms to class probabilities (``audiotag predict``).

Clips go into a :class:`~audiotag.training.bank.ClipBank` (waveforms or full-clip features), are cut into crops by the
checkpoint's :class:`~audiotag.training.config.InferenceConfig` (the centre, or windows covering the clip), scored in
batches under autocast, and window probabilities are averaged per clip. The bank stores what training's bank stored
on the same device (:func:`~audiotag.training.bank.bank_dtype`), so a checkpoint scores a clip as its validation did.
"""
from __future__ import annotations

import os

import numpy as np
import torch

from audiotag.training.bank import ClipBank, bank_dtype
from audiotag.training.checkpoint import load_checkpoint
from audiotag.features.config import FeatureConfig
from audiotag.training.config import InferenceConfig
from audiotag.training.devices import autocast, resolve_device, resolve_precision
from audiotag.training.pipeline import InputPipeline
from audiotag.training.validation import predict_bank


class Predictor:
    """A model with its input pipeline and inference policy, ready to score waveforms."""

    def __init__(self, model: torch.nn.Module, classes, features: FeatureConfig, inference: InferenceConfig,
                 device: torch.device | str | None = None, precision: str = "auto", batch_size: int = 32):
        self.device = resolve_device(device)
        self.model = model.to(self.device).eval()
        self.classes = tuple(classes)
        self.features = features
        self.inference = inference
        self.pipeline = InputPipeline(features, self.device)
        self.amp_dtype = resolve_precision(precision, self.device)
        self.batch_size = batch_size

    @classmethod
    def from_checkpoint(cls, path: str | os.PathLike, device=None, precision: str = "auto",
                        inference: InferenceConfig | None = None) -> "Predictor":
        ckpt = load_checkpoint(path)
        dev = resolve_device(device)
        return cls(ckpt.build_model(dev), ckpt.classes, ckpt.features, inference or ckpt.inference, dev, precision)

    @property
    def sample_rate(self) -> int:
        """The rate audio must be loaded at for this model."""
        return self.features.sample_rate

    def predict_waves(self, waves: list[np.ndarray]) -> np.ndarray:
        """Probabilities ``(len(waves), n_classes)`` for waveforms at :attr:`sample_rate`."""
        if len(waves) == 0:
            return np.zeros((0, len(self.classes)), dtype=np.float32)
        bank = ClipBank([self.pipeline.clip_item(w) for w in waves], self.device, dtype=bank_dtype(self.device),
                        short_clip=self.inference.short_clip)
        return predict_bank(self.model, bank, self.pipeline, self.inference, batch_size=self.batch_size,
                            amp_dtype=self.amp_dtype)
