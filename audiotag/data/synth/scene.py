"""The recording around a sound: microphone colouring, a room, background noise, and the final level.

Freesound clips are recorded by thousands of people with different microphones, rooms and surroundings.
:func:`apply_scene` imitates that variety, so a classifier cannot tell classes apart by their recording
conditions and has to listen to the sound itself:

1. **microphone / device**: a random resonance (a tilt of the tone) and sometimes a narrow band
   (a phone or a cheap recorder);
2. **room**: a simple reverberation, the dry sound convolved with an exponentially decaying noise impulse
   response of random reverberation time (RT60) whose high frequencies die faster (air and wall damping);
3. **background**: coloured noise (white to brown), sometimes mains hum, mixed at a random signal-to-noise
   ratio measured on the *active* part of the sound (so a single short knock in a long clip is not drowned);
4. **level**: a random peak level, as recordists leave different headroom.

All settings are in :class:`SceneConfig`; their ranges set how hard the corpus is.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from audiotag.data.synth import dsp
from audiotag.data.synth.dsp import SR, db


@dataclass(frozen=True)
class SceneConfig:
    """Ranges (low, high) from which each clip's recording conditions are drawn uniformly."""

    snr_db: tuple[float, float] = (3.0, 30.0)
    noise_slope_db: tuple[float, float] = (-7.0, 0.0)   # background colour: 0 white, -3 pink, -6 brown
    hum_probability: float = 0.3
    hum_db: tuple[float, float] = (-20.0, -3.0)         # hum level relative to the background noise
    reverb_probability: float = 0.75
    rt60_s: tuple[float, float] = (0.15, 1.5)
    wet_db: tuple[float, float] = (-14.0, 0.0)          # reverberant level relative to the dry sound
    eq_gain_db: tuple[float, float] = (-8.0, 8.0)       # one random resonance of the microphone / device
    bandlimit_probability: float = 0.25
    bandlimit_low_hz: tuple[float, float] = (80.0, 400.0)
    bandlimit_high_hz: tuple[float, float] = (3000.0, 12000.0)
    peak_dbfs: tuple[float, float] = (-20.0, -1.0)

    def to_dict(self) -> dict:
        return asdict(self)


def uniform(rng: np.random.Generator, bounds: tuple[float, float]) -> float:
    return float(rng.uniform(bounds[0], bounds[1]))


def active_rms(x: np.ndarray, frame: int = 1024, range_db: float = 25.0) -> float:
    """RMS over the frames within ``range_db`` of the loudest frame: the level of the sound while it sounds."""
    m = len(x) // frame
    if m < 2:
        return dsp.rms(x)
    power = np.mean(np.square(x[: m * frame].reshape(m, frame)), axis=1)
    loud = power >= power.max() * 10.0 ** (-range_db / 10.0)
    return float(np.sqrt(power[loud].mean()))


def room_impulse_response(rng: np.random.Generator, rt60: float, sr: int = SR) -> np.ndarray:
    """Exponentially decaying noise, low-passed more as it decays (two bands mixed), unit energy."""
    m = dsp.n_samples(min(rt60 * 1.1, 3.0), sr)
    noise = rng.standard_normal(m)
    env = dsp.decay(m, rt60, sr)
    bright = dsp.highpass(noise, 2000.0, sr) * dsp.decay(m, 0.5 * rt60, sr)
    ir = dsp.lowpass(noise, 2000.0, sr) * env + bright
    predelay = dsp.n_samples(rng.uniform(0.0, 0.02), sr)
    ir = np.concatenate([np.zeros(predelay), ir])
    return ir / np.sqrt(np.sum(ir ** 2))


def background(rng: np.random.Generator, n: int, config: SceneConfig, sr: int = SR) -> np.ndarray:
    """Unit-RMS background: coloured noise, slowly fluctuating, plus mains hum sometimes."""
    noise = dsp.coloured_noise(rng, n, uniform(rng, config.noise_slope_db), sr)
    noise *= 1.0 + 0.3 * dsp.smooth_random(rng, n, rng.uniform(0.2, 2.0), sr)
    if rng.random() < config.hum_probability:
        mains = rng.choice([50.0, 60.0])
        k = np.arange(1, 8)
        hum = dsp.harmonic_tone(rng, mains, rng.uniform(0.1, 1.0, len(k)) / k, n, sr)
        noise = dsp.unit_rms(noise) + db(uniform(rng, config.hum_db)) * dsp.unit_rms(hum)
    return dsp.unit_rms(noise)


def apply_scene(rng: np.random.Generator, dry: np.ndarray, config: SceneConfig, sr: int = SR) -> np.ndarray:
    """Turn a dry sound into a "recording" (see the module docstring); returns float32, peak < 1."""
    x = dsp.fade(dsp.unit_peak(np.asarray(dry, dtype=float)), 0.003, sr)
    n = len(x)
    # 1. microphone / device colouring
    eq = db(uniform(rng, config.eq_gain_db)) - 1.0
    x = x + eq * dsp.resonator(x, float(dsp.log_uniform(rng, 150.0, 6000.0)), rng.uniform(0.7, 2.0), sr)
    if rng.random() < config.bandlimit_probability:
        x = dsp.filter_band(x, uniform(rng, config.bandlimit_low_hz), uniform(rng, config.bandlimit_high_hz), sr, 2)
    # 2. room
    if rng.random() < config.reverb_probability:
        wet = dsp.convolve(x, room_impulse_response(rng, uniform(rng, config.rt60_s), sr))
        x = x + db(uniform(rng, config.wet_db)) * wet * (dsp.rms(x) / max(dsp.rms(wet), 1e-12))
    # 3. background at a random SNR
    level = active_rms(x)
    if level > 0:
        x = x + background(rng, n, config, sr) * level / db(uniform(rng, config.snr_db))
    # 4. level
    x = dsp.fade(dsp.unit_peak(x), 0.002, sr) * db(uniform(rng, config.peak_dbfs))
    return np.clip(x, -0.999, 0.999).astype(np.float32)
