"""Checkpoints that carry everything needed to predict: weights, model name and arguments, the class list, and
every preprocessing setting (sample rate, feature settings, crop length, inference policy).

Inference rebuilds the model and its input pipeline from the checkpoint alone, so it can never mismatch training.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import torch

from audiotag.features.config import FeatureConfig
from audiotag.training.config import InferenceConfig
from audiotag.fileio import atomic_path

FORMAT = "audiotag-checkpoint/1"


class CheckpointError(ValueError):
    """A file that is not an audiotag checkpoint, or one that cannot be loaded."""


@dataclass
class Checkpoint:
    model_name: str
    model_kwargs: dict
    state_dict: dict
    classes: tuple[str, ...]
    features: FeatureConfig
    inference: InferenceConfig
    info: dict   # training facts: run, fold, epoch, val_acc, val_map3, torch version

    def build_model(self, device: torch.device | str = "cpu") -> torch.nn.Module:
        from audiotag.models import build_model

        model = build_model(self.model_name, n_classes=len(self.classes), **self.model_kwargs)
        model.load_state_dict(self.state_dict)
        return model.to(device).eval()


def save_checkpoint(path: str | os.PathLike, model: torch.nn.Module, *, model_name: str, model_kwargs: dict,
                    classes, features: FeatureConfig, inference: InferenceConfig, info: dict | None = None) -> None:
    state = {k: v.detach().cpu() for k, v in _unwrap(model).state_dict().items()}
    payload = {
        "format": FORMAT,
        "model_name": model_name,
        "model_kwargs": dict(model_kwargs),
        "state_dict": state,
        "classes": list(classes),
        "features": features.to_dict(),
        "inference": _asdict(inference),
        "info": {"torch_version": str(torch.__version__), **(info or {})},
    }
    with atomic_path(path, suffix=".pt") as tmp:
        torch.save(payload, tmp)


def load_checkpoint(path: str | os.PathLike) -> Checkpoint:
    path = Path(path)
    if not path.exists():
        raise CheckpointError(f"{path}: checkpoint not found")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise CheckpointError(f"{path}: not a readable checkpoint ({type(exc).__name__}: {exc})") from None
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise CheckpointError(f"{path}: not an audiotag checkpoint (format {payload.get('format') if isinstance(payload, dict) else type(payload).__name__})")
    return Checkpoint(
        model_name=payload["model_name"], model_kwargs=payload["model_kwargs"], state_dict=payload["state_dict"],
        classes=tuple(payload["classes"]), features=FeatureConfig.from_dict(payload["features"]),
        inference=InferenceConfig(**payload["inference"]), info=payload.get("info", {}),
    )


def _unwrap(model: torch.nn.Module) -> torch.nn.Module:
    return getattr(model, "_orig_mod", model)   # torch.compile wraps the module


def _asdict(cfg) -> dict:
    import dataclasses

    return dataclasses.asdict(cfg)
