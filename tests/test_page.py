"""The page helpers of the book (:mod:`audiotag.book.page`): players that hold the sound at its own rate, figures
with a description and players beside them, and tables a reader can read."""
from __future__ import annotations

import base64
import io
import re

import numpy as np
import pandas as pd
import pytest
import soundfile

from audiotag.book import page, plots


def _sounds_in(html: str) -> list[tuple[np.ndarray, int]]:
    out = []
    for mime, data in re.findall(r'src="data:(audio/[a-z]+);base64,([A-Za-z0-9+/=]+)"', html):
        wave, rate = soundfile.read(io.BytesIO(base64.b64decode(data)), dtype="float32")
        out.append((wave, rate))
    return out


@pytest.mark.parametrize("rate", [44100, 22050, 8000])
def test_player_keeps_the_clips_own_rate_and_length_and_its_label(rate):
    t = np.arange(int(0.5 * rate)) / rate
    wave = 0.3 * np.sin(2 * np.pi * 440 * t)
    html = page.player(wave, rate, "Violin_or_fiddle").data
    (decoded, decoded_rate), = _sounds_in(html)
    assert decoded_rate == rate and len(decoded) == len(wave)
    assert np.abs(decoded).max() == pytest.approx(0.9, abs=1e-3)          # peak-normalised
    np.testing.assert_allclose(decoded / 0.9, wave / 0.3, atol=1e-3)       # the same sound, louder
    assert "Violin_or_fiddle" in html and "0.50 s" in html


def test_figure_with_players_describes_the_figure_and_holds_one_player_per_sound():
    a, b = np.zeros(800), np.ones(400) * 0.1
    fig = plots.waveform(a, 8000, "silence")
    html = page.figure_with_players(fig, {"A: Knock": (a, 8000), "B: Bark": (b, 16000)},
                                    alt="Two waveforms, silence and a step").data
    assert re.search(r'<img [^>]*alt="Two waveforms, silence and a step"', html)
    assert [r for _, r in _sounds_in(html)] == [8000, 16000]
    with pytest.raises(ValueError, match="at least one sound"):
        page.figure_with_players(fig, {}, alt="x")


def test_show_table_has_readable_headers_whole_numbers_and_no_nan():
    table = pd.DataFrame({"map3_whole": [0.81234, np.nan], "clips": [821.0, 3.0], "val_acc": [0.5, 0.25]},
                         index=pd.Index(["Keys_jangling", "Bark"], name="class"))
    html = page.show_table(table).data
    headers = re.findall(r"<th>([^<]*)</th>", html)
    assert {"whole MAP@3", "clips", "validation accuracy", "class"} <= set(headers)
    assert "Keys_jangling" in html                      # class names are values: kept as they are
    assert "NaN" not in html and ">–<" in html
    assert ">821<" in html and "821.0" not in html and ">0.812<" in html
    assert 'overflow-x: auto' in html
    assert page.readable_name("accuracy_public") == "public accuracy"
