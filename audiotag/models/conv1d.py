"""The paper's 1D-ConvNet (Table 1): a residual CNN on the raw waveform, after Dai et al. (ICASSP 2017).

Layer by layer, for an input of ``N`` samples (``t`` seconds at 44.1 kHz, ``N = 44100 t``)::

    input                    (B, 1, N)
    stem   conv1d k80/4, 48  + BN + ReLU              (B, 48, L0)   L0 = floor((N - 80) / 4) + 1
    pool0  max-pool 4                                 (B, 48, L0 // 4)
    stage1 2 residual blocks, 48 channels             (B, 48, .)
    pool1  max-pool 4 -> stage2 2 residual blocks, 96 (B, 96, .)
    pool2  max-pool 4 -> stage3 2 residual blocks, 192
    pool3  max-pool 4 -> stage4 2 residual blocks, 384 (B, 384, L0 // 256)
    global average pooling -> Linear(384, 41)         (B, 41) logits

18 weight layers (1 stem + 16 convolutions + 1 dense), as the paper says.

Where the BatchNorms go -- derived from the paper's count, 2,099,801
--------------------------------------------------------------------
The paper prints a Keras count, in which every BatchNorm holds 4 numbers per channel (scale, shift,
running mean, running variance); convolutions have biases (Keras' default).

===============================================================  =============
part                                                             count
===============================================================  =============
stem conv ``80*1*48 + 48``                                       3,888
stem BN ``4*48``                                                 192
stage 48: four convs ``3*48*48 + 48``                            27,840
stage 96: ``3*48*96 + 96`` + three ``3*96*96 + 96``              97,152
stage 192: ``3*96*192 + 192`` + three ``3*192*192 + 192``        387,840
stage 384: ``3*192*384 + 384`` + three ``3*384*384 + 384``       1,549,824
a BN after each of the 16 convs: ``4 * 4 * (48+96+192+384)``     11,520
a BN after each of the 8 additions: ``4 * 2 * (48+96+192+384)``  5,760
dense ``384*41 + 41``                                            15,785
**total**                                                        **2,099,801**
===============================================================  =============

Without the BatchNorm after each addition the count is 2,094,041 (short by exactly 5,760); a learned 1x1
projection shortcut instead of the zero-padded one would add far more (e.g. ``48*96+96`` = 4,704 already for
the first widening alone, plus its BN). So the count pins down: a BN after *every* convolution, a BN after
*every* residual addition, a weight-free shortcut and biased convolutions. It cannot pin down the ReLUs
(they hold no parameters); we place them as in ResNet (He et al. 2016): ``conv-BN-ReLU-conv-BN``, add the
shortcut, then ``BN-ReLU`` (:class:`~audiotag.models.blocks.ResidualBlock1d`).

Input length
------------
Any length ``N >= 1100`` samples works (25 ms at 44.1 kHz, 69 ms at 16 kHz): the stem leaves
``floor((N-80)/4)+1`` frames and four max-pools of 4 divide that by 256, which must leave at least one frame
(``N >= 80 + 4 * (256 - 1)``). The paper's 2-5 s crops (88,200-220,500 samples) end with 86-215 frames
before global pooling. Shorter inputs raise :class:`~audiotag.models.blocks.ModelInputError`.
"""
from __future__ import annotations

from collections import OrderedDict
from typing import Sequence

import torch
from torch import nn

from audiotag.models.blocks import ConvBN1d, GlobalAvgPool, ModelInputError, ResidualBlock1d, init_keras_defaults

#: Table 1's stem: a wide strided convolution acting as a learned filterbank (80 samples = 1.8 ms at 44.1 kHz).
STEM_KERNEL = 80
STEM_STRIDE = 4
#: Max-pooling size (and stride) after the stem and between stages.
POOL_SIZE = 4
#: Channel widths of the four stages.
STAGE_CHANNELS = (48, 96, 192, 384)


class Conv1DNet(nn.Module):
    """1D-ConvNet of the paper (Table 1); input ``(B, 1, N)`` or ``(B, N)`` waveforms, output ``(B, n_classes)``
    logits. See the module docstring for the layer list and the parameter count.

    ``channels`` (stage widths, non-decreasing) and ``blocks_per_stage`` default to the paper's network;
    they exist for smaller CPU experiments and are plain ints, so they can be stored in a checkpoint.
    """

    def __init__(self, n_classes: int = 41, channels: Sequence[int] = STAGE_CHANNELS, blocks_per_stage: int = 2):
        super().__init__()
        channels = tuple(int(c) for c in channels)
        self.init_kwargs = {"n_classes": n_classes, "channels": list(channels), "blocks_per_stage": blocks_per_stage}
        self.min_length = STEM_KERNEL + STEM_STRIDE * (POOL_SIZE ** len(channels) - 1)

        layers: OrderedDict[str, nn.Module] = OrderedDict()
        layers["stem"] = ConvBN1d(1, channels[0], STEM_KERNEL, stride=STEM_STRIDE)
        width = channels[0]
        for stage, out_width in enumerate(channels, start=1):
            layers[f"pool{stage - 1}"] = nn.MaxPool1d(POOL_SIZE)
            for block in range(1, blocks_per_stage + 1):
                layers[f"stage{stage}_block{block}"] = ResidualBlock1d(width, out_width)
                width = out_width
        self.features = nn.Sequential(layers)
        self.pool = GlobalAvgPool()
        self.classifier = nn.Linear(width, n_classes)
        init_keras_defaults(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() == 2:
            x = x.unsqueeze(1)
        if x.dim() != 3 or x.shape[1] != 1:
            raise ModelInputError("conv1d", x.shape, "expected a mono waveform batch (B, 1, N) or (B, N)")
        if x.shape[-1] < self.min_length:
            raise ModelInputError(
                "conv1d", x.shape,
                f"waveforms need at least {self.min_length} samples, so that the stem convolution and the "
                f"{len(self.init_kwargs['channels'])} max-pools leave one frame; got {x.shape[-1]}")
        return self.classifier(self.pool(self.features(x)))
