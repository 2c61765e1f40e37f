"""Grad-CAM: which part of its input image made the 2D-ConvNet choose a class (Selvaraju et al., ICCV 2017).

A convolutional layer's output is a stack of ``K`` feature maps ``A_k`` (``K x h x w``), each still laid out like
the input (here: rows are frequency, columns time, at a coarser grid). Grad-CAM asks how much the score of class
``c`` (its logit ``y_c``) would grow if a map grew everywhere, and weighs the maps by that::

    alpha_k = mean over (i, j) of  d y_c / d A_k(i, j)           (one weight per feature map)
    map     = ReLU( sum_k alpha_k A_k )                          (h x w: evidence *for* class c)

then upsamples the ``h x w`` map bilinearly to the input's size and scales it to [0, 1]. The ReLU keeps only
evidence *for* the class; for a network whose last convolutional layer is followed by global average pooling and
a linear classifier, ``alpha_k`` is that classifier's weight ``w_ck`` divided by ``h * w``, and Grad-CAM is the
older class activation map (CAM, Zhou et al. 2016) -- ``tests/test_inside.py`` checks exactly that.

Which layer: the last one with spatial extent sees the most abstract features while keeping some "where". In
the paper's 2D-ConvNet that is ``mixed6``, the last InceptionC block (768 maps of 17 x 17 for a 299 x 299 input;
4 x 4 for the ``cpu`` profile's 96 x 96, 3 x 3 for ``smoke``'s 75 x 75): :func:`default_layer` picks it. Its maps
are coarse, so a Grad-CAM map is a blurry "where", not a sharp outline; an earlier block
(``layer="features.mixed2"``: 35 x 35 at 299, 9 x 9 at 96) is sharper but less class-specific.

* :func:`grad_cam` -- maps ``(B, H, W)`` for a batch of network inputs (also ``(B, N)`` for a waveform network:
  its layers are 1-D);
* :func:`clip_grad_cam` -- one clip as the 2D net sees it: the log-mel of the crop the ``center`` policy scores,
  resized to the network image, and the map brought back to the crop's (mel band x frame) grid
  (:class:`ClipCam`); :func:`checkpoint_grad_cams` does it for several clips with a checkpoint.

Gradients are taken with ``torch.autograd.grad`` with respect to the layer's output only, so nothing accumulates
in the parameters' ``.grad``; the model runs in eval mode (BatchNorm with its running statistics, so every example
is explained on its own) and is put back in the mode it was in.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from audiotag.data.audio import load_audio
from audiotag.features.config import FeatureConfig
from audiotag.training.bank import ClipBank
from audiotag.training.checkpoint import Checkpoint
from audiotag.training.pipeline import InputPipeline


def default_layer(model: nn.Module) -> nn.Module:
    """The layer Grad-CAM reads by default: the last block of ``model.features`` (``mixed6`` in the 2D-ConvNet, the
    last residual block in the 1D-ConvNet), or the last convolution of ``model.cnn`` (the DCASE baseline); for any
    other network, its last ``Conv1d``/``Conv2d``."""
    features = getattr(model, "features", None)
    if isinstance(features, nn.Sequential) and len(features):
        return features[-1]
    convs = [m for m in model.modules() if isinstance(m, (nn.Conv1d, nn.Conv2d))]
    if not convs:
        raise ValueError(f"{type(model).__name__} has no convolutional layer to explain")
    return convs[-1]


def grad_cam(model: nn.Module, inputs: torch.Tensor, target_class: int | Sequence[int] | None = None,
             layer: nn.Module | str | None = None) -> np.ndarray:
    """Grad-CAM maps of ``inputs`` (``(B, C, H, W)`` images, or ``(B, 1, N)`` waveforms) for ``target_class``.

    ``target_class``: ``None`` explains each example's top class (the argmax of its logits), an int the same class
    for every example, a sequence one class per example. ``layer``: a module of ``model`` or its name in
    ``model.named_modules()`` (``"features.mixed5"``); default :func:`default_layer`.

    Returns float32 maps ``(B, H, W)`` (``(B, N)`` for waveforms) in [0, 1]: each map is divided by its own
    maximum, so 1 marks the strongest evidence *in that example* (maps of different examples are not on one
    scale). A map with no positive evidence at all is all zeros.
    """
    layer = _resolve_layer(model, layer)
    x = torch.as_tensor(inputs).detach().float()
    if x.dim() < 3:
        raise ValueError(f"grad_cam needs a batch (B, C, ...) of inputs, got shape {tuple(x.shape)}")
    device = next(model.parameters()).device
    x = x.to(device).requires_grad_(True)   # so the layer's output has a graph even if every weight is frozen
    captured = []
    handle = layer.register_forward_hook(lambda module, args, output: captured.append(output))
    was_training = model.training
    model.eval()
    try:
        with torch.enable_grad():
            logits = model(x)
            targets = _targets(target_class, logits)
            score = logits.gather(1, targets[:, None]).sum()   # examples do not interact in eval mode
            activation = captured[-1]
            (grads,) = torch.autograd.grad(score, activation)
    finally:
        handle.remove()
        model.train(was_training)
    return _cam_from(activation.detach(), grads.detach(), x.shape[2:])


def _resolve_layer(model: nn.Module, layer) -> nn.Module:
    if layer is None:
        return default_layer(model)
    if isinstance(layer, str):
        modules = dict(model.named_modules())
        if layer not in modules:
            raise ValueError(f"{type(model).__name__} has no layer {layer!r}")
        return modules[layer]
    return layer


def _targets(target_class, logits: torch.Tensor) -> torch.Tensor:
    batch = logits.shape[0]
    if target_class is None:
        return logits.detach().argmax(1)
    t = torch.as_tensor(target_class, dtype=torch.long, device=logits.device).reshape(-1)
    if t.numel() == 1:
        t = t.expand(batch)
    if t.numel() != batch:
        raise ValueError(f"{t.numel()} target classes for a batch of {batch}")
    if (t < 0).any() or (t >= logits.shape[1]).any():
        raise ValueError(f"target classes must lie in [0, {logits.shape[1]}), got {t.tolist()}")
    return t


def _cam_from(activation: torch.Tensor, grads: torch.Tensor, size) -> np.ndarray:
    """ReLU(sum_k alpha_k A_k), upsampled to ``size`` and scaled to [0, 1] per example."""
    spatial = tuple(range(2, activation.dim()))
    alpha = grads.float().mean(dim=spatial, keepdim=True)              # (B, K, 1, 1)
    cam = F.relu((alpha * activation.float()).sum(dim=1, keepdim=True))  # (B, 1, h, w)
    mode = {1: "linear", 2: "bilinear"}.get(len(spatial))
    if mode is None:
        raise ValueError(f"grad_cam handles 1-D and 2-D layers, got an activation of shape {tuple(activation.shape)}")
    cam = F.interpolate(cam, size=tuple(size), mode=mode, align_corners=False)[:, 0]
    peak = cam.flatten(1).amax(1).clamp_min(torch.finfo(cam.dtype).tiny)
    cam = cam / peak.view(-1, *([1] * (cam.dim() - 1)))
    return cam.clamp(0, 1).cpu().numpy().astype(np.float32)


# --------------------------------------------------------------------------------------------------------------
# One clip, as the 2D net sees it
# --------------------------------------------------------------------------------------------------------------
@dataclass
class ClipCam:
    """Grad-CAM of one clip. ``feature`` (F, T) the dB feature of the crop the network scored (mel band x frame,
    lowest band first; channel 0 for a multi-channel feature), ``cam`` (F, T) the Grad-CAM map on that grid;
    ``image`` (C, S, S) the network input (standardised, resized) and ``image_cam`` (S, S) the map on it;
    ``target`` the explained class (index) and ``label`` its name when known; ``probs`` (n_classes,) the network's
    probabilities for the crop; ``hop_length``, ``sample_rate`` give the frames' times (``frame * hop / rate``)."""

    feature: np.ndarray
    cam: np.ndarray
    image: np.ndarray
    image_cam: np.ndarray
    target: int
    probs: np.ndarray
    hop_length: int
    sample_rate: int
    label: str | None = None
    name: str = ""


def clip_input(wave: np.ndarray, features: FeatureConfig, crop_seconds: float,
               short_clip: str = "repeat") -> tuple[torch.Tensor, torch.Tensor]:
    """A clip's centre crop as the 2D network sees it: ``(feature, image)`` where ``feature`` is the crop's dB
    feature ``(C, F, T)`` and ``image`` the network input ``(C', S, S)`` made from it.

    Exactly the training and inference pipeline (:class:`~audiotag.training.pipeline.InputPipeline`): the whole
    clip's feature, the middle ``crop_seconds`` of it (a shorter clip repeated or padded by ``short_clip``, as
    a :class:`~audiotag.training.bank.ClipBank` does), standardised and resized to the network image.
    """
    pipeline = InputPipeline(features)
    if pipeline.is_waveform:
        raise ValueError("clip_input makes the 2D network's image; this feature config is the raw waveform")
    bank = ClipBank([pipeline.clip_item(np.asarray(wave, dtype=np.float32))], short_clip=short_clip)
    crop = bank.center_crops([0], pipeline.crop_length(crop_seconds))      # (1, C, F, T)
    return crop[0], pipeline.model_input(crop)[0]


def clip_grad_cam(model: nn.Module, features: FeatureConfig, wave: np.ndarray, crop_seconds: float, *,
                  target_class: int | None = None, layer: nn.Module | str | None = None,
                  short_clip: str = "repeat", classes: Sequence[str] | None = None, name: str = "") -> ClipCam:
    """Grad-CAM of one clip (a waveform at ``features.sample_rate``) on its centre crop, mapped back to the
    crop's (mel band x frame) grid.

    The network image is a bilinear resize of the standardised feature crop (``F x T`` -> ``S x S``, e.g.
    64 x 44 -> 75 x 75 under ``smoke``), so its rows are still frequency and its columns time, only stretched; the
    map on the image is resized back to ``F x T`` the same way. Without an image size (a network on the native
    feature) the two grids coincide. The centre crop is what the ``center`` inference policy scores; the
    ``windows`` policy averages several such crops.
    """
    feature, image = clip_input(wave, features, crop_seconds, short_clip)
    device = next(model.parameters()).device
    x = image[None].to(device)
    with torch.no_grad():
        was_training = model.training
        probs = torch.softmax(model.eval()(x).float(), dim=1)[0].cpu().numpy()
        model.train(was_training)
    target = int(probs.argmax()) if target_class is None else int(target_class)
    image_cam = grad_cam(model, x, target, layer)[0]
    cam = F.interpolate(torch.from_numpy(image_cam)[None, None], size=tuple(feature.shape[-2:]), mode="bilinear",
                        align_corners=False)[0, 0].clamp(0, 1).numpy()
    return ClipCam(feature=feature[0].cpu().numpy(), cam=cam, image=image.cpu().numpy(), image_cam=image_cam,
                   target=target, probs=probs, hop_length=features.hop_length, sample_rate=features.sample_rate,
                   label=None if classes is None else str(classes[target]), name=name)


def checkpoint_grad_cams(checkpoint: Checkpoint, clips: Sequence[str | os.PathLike | np.ndarray],
                         target_classes: Sequence[int | str | None] | None = None,
                         layer: nn.Module | str | None = None, model: nn.Module | None = None) -> list[ClipCam]:
    """:func:`clip_grad_cam` for several clips with a trained checkpoint: its features, its inference crop length
    and short-clip policy, its class names.

    ``clips``: audio files (loaded at the checkpoint's sample rate) or waveforms at that rate. ``target_classes``:
    per clip a class index, a class name (e.g. the true label) or ``None`` for the top class; default: the top
    class of every clip. ``model``: the checkpoint's network if already built (building it costs a moment).
    """
    model = checkpoint.build_model("cpu") if model is None else model
    targets = [None] * len(clips) if target_classes is None else list(target_classes)
    if len(targets) != len(clips):
        raise ValueError(f"{len(targets)} target classes for {len(clips)} clips")
    index = {c: i for i, c in enumerate(checkpoint.classes)}
    rate = checkpoint.features.sample_rate
    out = []
    for clip, target in zip(clips, targets):
        is_path = isinstance(clip, (str, os.PathLike))
        wave = load_audio(clip, rate) if is_path else np.asarray(clip, dtype=np.float32)
        target = index[target] if isinstance(target, str) else target
        out.append(clip_grad_cam(model, checkpoint.features, wave, checkpoint.inference.crop_seconds,
                                 target_class=target, layer=layer, short_clip=checkpoint.inference.short_clip,
                                 classes=checkpoint.classes, name=os.path.basename(clip) if is_path else ""))
    return out
