"""Receptive fields: the recursions on hand-built stacks with known answers, and the 1D-ConvNet's layers."""
from __future__ import annotations

import pytest
from torch import nn

from audiotag.models import build_model
from audiotag.models.receptive_field import (LayerGeometry, geometry_of, layer_geometry, receptive_field_table,
                                             receptive_fields)


def test_recursions_on_a_hand_built_stack():
    # conv k3 s1 -> conv k3 s1: 5 samples; then pool 2: 6 samples, jump 2; then conv k3: 6 + 2*2 = 10
    layers = [LayerGeometry("a", "conv", 3, 1), LayerGeometry("b", "conv", 3, 1),
              LayerGeometry("p", "max pool", 2, 2), LayerGeometry("c", "conv", 3, 1)]
    table = receptive_fields(layers)
    assert table["receptive field"].tolist() == [3, 5, 6, 10]
    assert table["jump"].tolist() == [1, 1, 2, 2]


def test_dilation_widens_the_kernel():
    assert LayerGeometry("d", "conv", 3, 1, dilation=4).span == 9
    assert receptive_fields([LayerGeometry("d", "conv", 3, 1, dilation=4)])["receptive field"].tolist() == [9]


def test_hooks_follow_the_forward_order_not_the_definition_order():
    class Reversed(nn.Module):
        def __init__(self):
            super().__init__()
            self.late = nn.Conv1d(4, 4, 5)           # defined first, called last
            self.early = nn.Conv1d(1, 4, 10, stride=5)
            self.pool = nn.MaxPool1d(2)

        def forward(self, x):
            return self.late(self.pool(self.early(x)))

    layers = layer_geometry(Reversed(), input_length=200)
    assert [layer.name for layer in layers] == ["early", "pool", "late"]
    # r: 10, then 10 + (2-1)*5 = 15 (jump 10), then 15 + (5-1)*10 = 55
    assert receptive_fields(layers)["receptive field"].tolist() == [10, 15, 55]


def test_sequential_stack_with_avg_pool_and_geometry_errors():
    stack = nn.Sequential(nn.Conv1d(1, 2, 4, stride=2), nn.ReLU(), nn.AvgPool1d(3), nn.Conv1d(2, 2, 3))
    table = receptive_field_table(stack, {"1 kHz": 1000}, input_length=100)
    assert table.index.tolist() == ["0", "2", "3"]
    assert table["receptive field (samples)"].tolist() == [4, 8, 20]          # 4; 4+2*2; 8+2*6
    assert table["jump (samples)"].tolist() == [2, 6, 6]
    assert table["receptive field (ms, 1 kHz)"].tolist() == pytest.approx([4.0, 8.0, 20.0])
    with pytest.raises(TypeError):
        geometry_of("relu", nn.ReLU())
    with pytest.raises(ValueError):
        layer_geometry(nn.Sequential(nn.ReLU()), input_length=10)


def test_conv1d_net_first_layer_and_output():
    table = receptive_field_table(build_model("conv1d"), {"16 kHz": 16000, "44.1 kHz": 44100})
    first = table.iloc[0]
    assert table.index[0] == "stem" and first["kernel"] == 80 and first["stride"] == 4
    assert first["receptive field (samples)"] == 80
    assert first["receptive field (ms, 16 kHz)"] == pytest.approx(5.0)
    assert first["receptive field (ms, 44.1 kHz)"] == pytest.approx(1000 * 80 / 44100)
    # 1 stem + 4 pools + 16 kernel-3 convolutions, in forward order
    assert len(table) == 21 and (table["kind"] == "max pool").sum() == 4
    assert table.loc["pool0", "receptive field (samples)"] == 80 + 3 * 4
    # every layer after the stem multiplies the jump by its stride: 4 * 4^4 at the output
    assert table["jump (samples)"].iloc[-1] == 4 * 4 ** 4
    assert table["receptive field (samples)"].iloc[-1] == 11_980
