"""The paper's 2D-ConvNet (Table 2): InceptionV3 (Szegedy et al. 2016) cut after its ``mixed6`` block.

The paper feeds a ``299 x 299 x 3`` image (a resized spectral feature) to the InceptionV3 topology up to the
third 17x17 "InceptionC" block, then a small classifier head. Layer by layer (spatial sizes for 299x299)::

    stem   conv 3x3/2, 32 (valid)  -> 149      conv 3x3, 32 (valid) -> 147     conv 3x3, 64 (same) -> 147
           max-pool 3/2            -> 73       conv 1x1, 80         -> 73      conv 3x3, 192 (valid) -> 71
           max-pool 3/2            -> 35
    mixed0..mixed2  InceptionA (pool features 32, 64, 64)  35x35, 256 / 288 / 288 channels
    mixed3          InceptionB (grid reduction)            17x17, 768 channels
    mixed4..mixed6  InceptionC (c7 = 128, 160, 160)         17x17, 768 channels
    global average pooling -> Dense 1024 + BN + ReLU -> Dense 41 (logits)

Table 2 lists only the first three stem convolutions; the ``1x1, 80`` / ``3x3, 192`` / max-pool that
InceptionV3 has next are needed both for InceptionA's 192 input channels and for the printed count.

Every convolution is Keras' ``conv2d_bn``: no bias, then a BatchNorm *without scale* (``scale=False``, i.e.
:class:`~audiotag.models.blocks.ShiftOnlyBatchNorm2d`), then ReLU. Keras count of a ``kh x kw`` convolution
``in -> out``: ``kh*kw*in*out + 3*out`` (shift, running mean, running variance).

===============================================  =================================
part                                             Keras count
===============================================  =================================
stem (5 convolutions)                            173,072
mixed0 / mixed1 / mixed2 (InceptionA)            256,368 / 277,968 / 285,648
mixed3 (InceptionB)                              1,153,920
mixed4 / mixed5 / mixed6 (InceptionC)            1,298,944 / 1,692,736 / 1,692,736
Dense 1024 + BatchNorm (with scale: ``4*1024``)  791,552
Dense 41                                         42,025
**total**                                        **7,664,969**
===============================================  =================================

The blocks follow Keras' ``keras.applications.inception_v3`` (and torchvision's ``Inception3``, same
topology, not used here): branch order and kernel shapes as there. The average-pool branches use Keras'
``AveragePooling2D(3, strides=1, padding='same')``, which averages over the *real* pixels at the border
(``count_include_pad=False``); torchvision counts the zero padding instead. Weights start Glorot-uniform as in
Keras; BatchNorm uses Keras' ``epsilon=1e-3``.

Input size
----------
Any ``C x H x W`` with ``C == in_channels`` (3 by default, the paper's resized feature) and ``H, W >= 75``:
the paper's 299x299, and smaller or non-square features for cheap experiments (e.g. 1 x 128 x T when
``in_channels=1``). 75 is Keras' documented minimum for InceptionV3 and we keep that contract; this truncated
network would arithmetically still run down to 47 pixels (one 1x1 cell after mixed3). Smaller inputs raise
:class:`~audiotag.models.blocks.ModelInputError`.
"""
from __future__ import annotations

from collections import OrderedDict

import torch
from torch import nn

from audiotag.models.blocks import (Branches, ConvBN2d, DenseBNReLU, GlobalAvgPool, ModelInputError,
                                    init_keras_defaults)

#: Smallest height and width accepted (Keras' ``min_size`` for InceptionV3).
MIN_SIZE = 75
#: The paper's input: features resized to a 299 x 299 x 3 image.
PAPER_INPUT_SIZE = 299


def _same_avg_pool() -> nn.AvgPool2d:
    """Keras ``AveragePooling2D((3, 3), strides=(1, 1), padding='same')`` (padding excluded from the mean)."""
    return nn.AvgPool2d(3, stride=1, padding=1, count_include_pad=False)


class InceptionA(Branches):
    """35x35 Inception block (Keras ``mixed0``-``mixed2``): 1x1 | 1x1-5x5 | 1x1-3x3-3x3 | avg-pool-1x1.

    Output channels: ``64 + 64 + 96 + pool_features``.
    """

    def __init__(self, in_channels: int, pool_features: int):
        super().__init__(
            branch1x1=ConvBN2d(in_channels, 64, 1),
            branch5x5=nn.Sequential(ConvBN2d(in_channels, 48, 1), ConvBN2d(48, 64, 5, padding=2)),
            branch3x3dbl=nn.Sequential(ConvBN2d(in_channels, 64, 1), ConvBN2d(64, 96, 3, padding=1),
                                       ConvBN2d(96, 96, 3, padding=1)),
            branch_pool=nn.Sequential(_same_avg_pool(), ConvBN2d(in_channels, pool_features, 1)),
        )
        self.out_channels = 64 + 64 + 96 + pool_features


class InceptionB(Branches):
    """Grid reduction 35x35 -> 17x17 (Keras ``mixed3``): 3x3/2 | 1x1-3x3-3x3/2 | max-pool 3/2.

    Output channels: ``384 + 96 + in_channels``.
    """

    def __init__(self, in_channels: int):
        super().__init__(
            branch3x3=ConvBN2d(in_channels, 384, 3, stride=2),
            branch3x3dbl=nn.Sequential(ConvBN2d(in_channels, 64, 1), ConvBN2d(64, 96, 3, padding=1),
                                       ConvBN2d(96, 96, 3, stride=2)),
            branch_pool=nn.MaxPool2d(3, stride=2),
        )
        self.out_channels = 384 + 96 + in_channels


class InceptionC(Branches):
    """17x17 block with factorised 7x7 convolutions (Keras ``mixed4``-``mixed6``).

    Branches: 1x1 | 1x1-1x7-7x1 | 1x1-7x1-1x7-7x1-1x7 | avg-pool-1x1; ``c7`` is the width inside the
    factorised branches. Output channels: ``4 * 192 = 768``.
    """

    def __init__(self, in_channels: int, c7: int):
        def conv_1x7(i, o):
            return ConvBN2d(i, o, (1, 7), padding=(0, 3))

        def conv_7x1(i, o):
            return ConvBN2d(i, o, (7, 1), padding=(3, 0))

        super().__init__(
            branch1x1=ConvBN2d(in_channels, 192, 1),
            branch7x7=nn.Sequential(ConvBN2d(in_channels, c7, 1), conv_1x7(c7, c7), conv_7x1(c7, 192)),
            branch7x7dbl=nn.Sequential(ConvBN2d(in_channels, c7, 1), conv_7x1(c7, c7), conv_1x7(c7, c7),
                                       conv_7x1(c7, c7), conv_1x7(c7, 192)),
            branch_pool=nn.Sequential(_same_avg_pool(), ConvBN2d(in_channels, 192, 1)),
        )
        self.out_channels = 4 * 192


class Inception2DNet(nn.Module):
    """2D-ConvNet of the paper (Table 2); input ``(B, in_channels, H, W)``, output ``(B, n_classes)`` logits.

    ``in_channels`` defaults to the paper's 3 (a resized feature repeated / stacked into an RGB-like image);
    ``dense_units`` is the width of the hidden dense layer (1024 in the paper). Both are plain ints, stored
    by checkpoints. Works in ``channels_last`` memory format.
    """

    def __init__(self, n_classes: int = 41, in_channels: int = 3, dense_units: int = 1024):
        super().__init__()
        self.init_kwargs = {"n_classes": n_classes, "in_channels": in_channels, "dense_units": dense_units}
        self.in_channels = in_channels
        self.min_size = MIN_SIZE

        mixed0 = InceptionA(192, pool_features=32)
        mixed1 = InceptionA(mixed0.out_channels, pool_features=64)
        mixed2 = InceptionA(mixed1.out_channels, pool_features=64)
        mixed3 = InceptionB(mixed2.out_channels)
        mixed4 = InceptionC(mixed3.out_channels, c7=128)
        mixed5 = InceptionC(mixed4.out_channels, c7=160)
        mixed6 = InceptionC(mixed5.out_channels, c7=160)
        self.features = nn.Sequential(OrderedDict(
            conv1=ConvBN2d(in_channels, 32, 3, stride=2),
            conv2=ConvBN2d(32, 32, 3),
            conv3=ConvBN2d(32, 64, 3, padding=1),
            pool1=nn.MaxPool2d(3, stride=2),
            conv4=ConvBN2d(64, 80, 1),
            conv5=ConvBN2d(80, 192, 3),
            pool2=nn.MaxPool2d(3, stride=2),
            mixed0=mixed0, mixed1=mixed1, mixed2=mixed2, mixed3=mixed3,
            mixed4=mixed4, mixed5=mixed5, mixed6=mixed6,
        ))
        self.pool = GlobalAvgPool()
        self.dense = DenseBNReLU(mixed6.out_channels, dense_units)
        self.classifier = nn.Linear(dense_units, n_classes)
        init_keras_defaults(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() != 4 or x.shape[1] != self.in_channels:
            raise ModelInputError("inception2d", x.shape,
                                  f"expected a batch of images (B, {self.in_channels}, H, W)")
        if min(x.shape[-2:]) < self.min_size:
            raise ModelInputError("inception2d", x.shape,
                                  f"height and width must be at least {self.min_size} (the paper uses "
                                  f"{PAPER_INPUT_SIZE}x{PAPER_INPUT_SIZE}); got {tuple(x.shape[-2:])}")
        return self.classifier(self.dense(self.pool(self.features(x))))
