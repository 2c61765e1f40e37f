"""Signal building blocks of the procedural sound models: noise, filters, envelopes, oscillators, events.

Every function is vectorised with numpy/scipy (no per-sample Python loops) and works in float64 at the
corpus rate (44.1 kHz). Functions that need randomness take a :class:`numpy.random.Generator` first, so a
clip's whole recipe is reproducible from its own generator.

The recipes in :mod:`audiotag.data.synth.sounds` combine four ideas:

* **additive synthesis** (:func:`harmonic_tone`): a sum of harmonics of a pitch track, each with its own
  amplitude, which is how winds, bowed strings and voices get a class-specific spectrum (a *spectral envelope*
  with formant peaks, :func:`spectral_envelope`);
* **modal synthesis** (:func:`modal`): struck objects ring at a few inharmonic frequencies that decay
  exponentially (bells, bars, wood, glass);
* **subtractive synthesis** (:func:`band_noise`, :func:`formant_filter`): shaped noise for textures
  (applause, tearing, snare wires, breath);
* **event placement** (:func:`place`, :func:`poisson_times`, :func:`regular_times`): a clip is a few sound
  events (knocks, barks, hits) scattered or in rhythm across its duration.
"""
from __future__ import annotations

import numpy as np
from scipy import fft as sp_fft
from scipy import signal

from audiotag.data.labels import SAMPLE_RATE

SR = SAMPLE_RATE
#: Highest frequency an oscillator may produce, as a share of the sample rate (keeps partials below Nyquist).
MAX_FREQ_SHARE = 0.45
#: Natural-log decay constant: an envelope exp(-T60_LN * t / t60) falls by 60 dB after t60 seconds.
T60_LN = np.log(1000.0)


# ------------------------------------------------------------------------------------------------ basics


def n_samples(duration: float, sr: int = SR) -> int:
    """Number of samples in ``duration`` seconds (at least one)."""
    return max(1, int(round(duration * sr)))


def time_axis(n: int, sr: int = SR) -> np.ndarray:
    return np.arange(n) / sr


def rms(x: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.square(x)))) if x.size else 0.0


def unit_peak(x: np.ndarray) -> np.ndarray:
    """Scale to a peak of 1 (a silent signal stays silent)."""
    peak = float(np.max(np.abs(x))) if x.size else 0.0
    return x / peak if peak > 0 else x


def unit_rms(x: np.ndarray) -> np.ndarray:
    r = rms(x)
    return x / r if r > 0 else x


def db(value_db):
    """Amplitude ratio of a level in decibels (a float, or an array for an array of levels)."""
    ratio = 10.0 ** (np.asarray(value_db, dtype=float) / 20.0)
    return float(ratio) if ratio.ndim == 0 else ratio


def midi_to_hz(midi: float | np.ndarray) -> float | np.ndarray:
    return 440.0 * 2.0 ** ((np.asarray(midi) - 69.0) / 12.0)


def log_uniform(rng: np.random.Generator, low: float, high: float, size=None):
    """A value spread evenly on a log scale (natural for frequencies, durations, rates)."""
    return np.exp(rng.uniform(np.log(low), np.log(high), size))


# ------------------------------------------------------------------------------------------------ noise


def white_noise(rng: np.random.Generator, n: int) -> np.ndarray:
    return rng.standard_normal(n)


def coloured_noise(rng: np.random.Generator, n: int, slope_db_per_octave: float, sr: int = SR) -> np.ndarray:
    """Noise whose spectrum falls by ``slope_db_per_octave`` (0 white, -3 pink, -6 brown), unit RMS.

    Shaped in the frequency domain: the white spectrum is multiplied by ``(f / 1 kHz) ** (slope / 6.02)``.
    """
    m = sp_fft.next_fast_len(n, real=True)  # an FFT of awkward (prime) length is many times slower
    spec = sp_fft.rfft(rng.standard_normal(m))
    freqs = np.maximum(sp_fft.rfftfreq(m, 1.0 / sr), 20.0)
    spec *= (freqs / 1000.0) ** (slope_db_per_octave / 6.0206)
    spec[0] = 0.0
    return unit_rms(sp_fft.irfft(spec, m)[:n])


def _clamp_band(low: float | None, high: float | None, sr: int) -> tuple[float | None, float | None]:
    nyq = 0.5 * sr
    if high is not None and high >= 0.95 * nyq:
        high = None
    if low is not None and low <= 10.0:
        low = None
    if low is not None and high is not None and low >= high * 0.9:
        low = high * 0.5
    return low, high


def filter_band(x: np.ndarray, low: float | None, high: float | None, sr: int = SR, order: int = 2) -> np.ndarray:
    """Butterworth band-pass between ``low`` and ``high`` Hz (``None`` leaves that side open)."""
    low, high = _clamp_band(low, high, sr)
    if low is None and high is None:
        return x
    if low is None:
        sos = signal.butter(order, high, "lowpass", fs=sr, output="sos")
    elif high is None:
        sos = signal.butter(order, low, "highpass", fs=sr, output="sos")
    else:
        sos = signal.butter(order, [low, high], "bandpass", fs=sr, output="sos")
    return signal.sosfilt(sos, x)


def lowpass(x: np.ndarray, cutoff: float, sr: int = SR, order: int = 2) -> np.ndarray:
    return filter_band(x, None, cutoff, sr, order)


def highpass(x: np.ndarray, cutoff: float, sr: int = SR, order: int = 2) -> np.ndarray:
    return filter_band(x, cutoff, None, sr, order)


def band_noise(rng: np.random.Generator, n: int, low: float | None, high: float | None, sr: int = SR,
               order: int = 2) -> np.ndarray:
    """White noise band-passed to [low, high] Hz, unit RMS."""
    return unit_rms(filter_band(rng.standard_normal(n), low, high, sr, order))


def resonator(x: np.ndarray, freq: float, q: float, sr: int = SR) -> np.ndarray:
    """A two-pole resonance at ``freq`` Hz with quality factor ``q`` (higher q: narrower, rings longer)."""
    freq = min(freq, MAX_FREQ_SHARE * sr)
    b, a = signal.iirpeak(freq, q, fs=sr)
    return signal.lfilter(b, a, x)


def formant_filter(x: np.ndarray, formants, sr: int = SR) -> np.ndarray:
    """A parallel bank of resonators: ``formants`` is a list of (frequency Hz, bandwidth Hz, gain dB).

    This is the classic source-filter picture of a vocal tract or an instrument body: a buzzy or noisy source
    coloured by a few resonances.
    """
    out = np.zeros_like(x)
    for freq, bandwidth, gain_db in formants:
        out += db(gain_db) * resonator(x, freq, max(freq / max(bandwidth, 1.0), 0.5), sr)
    return out


def spectral_envelope(freqs: np.ndarray, peaks=(), tilt: float = 0.0,
                      reference_hz: float = 500.0) -> np.ndarray:
    """Linear gain at ``freqs``: a spectral tilt plus Gaussian bumps on a log-frequency axis.

    ``tilt`` is in dB per octave (relative to ``reference_hz``); ``peaks`` lists (centre Hz, width in
    octaves, gain dB). This is how an instrument's fixed resonances (a violin body, an oboe's nasal
    formant, a vowel) are imposed on whatever note is played.
    """
    freqs = np.maximum(np.asarray(freqs, dtype=float), 1.0)
    octaves = np.log2(freqs / reference_hz)
    level = tilt * octaves
    for centre, width, gain_db in peaks:
        level = level + gain_db * np.exp(-0.5 * (np.log2(freqs / centre) / width) ** 2)
    return 10.0 ** (level / 20.0)


# ------------------------------------------------------------------------------------------------ envelopes


def decay(n: int, t60: float, sr: int = SR) -> np.ndarray:
    """Exponential decay that falls 60 dB in ``t60`` seconds."""
    return np.exp(-T60_LN * time_axis(n, sr) / max(t60, 1e-4))


def adsr(n: int, attack: float, decay_s: float, sustain: float, release: float, sr: int = SR) -> np.ndarray:
    """Piecewise-linear attack / decay / sustain level / release envelope spanning ``n`` samples."""
    total = n / sr
    attack = min(attack, 0.45 * total)
    release = min(release, 0.45 * total)
    decay_s = min(decay_s, max(total - attack - release, 0.0))
    knots_t = [0.0, attack, attack + decay_s, max(total - release, attack + decay_s), total]
    knots_v = [0.0, 1.0, sustain, sustain, 0.0]
    return np.interp(time_axis(n, sr), knots_t, knots_v)


def fade(x: np.ndarray, seconds: float = 0.005, sr: int = SR) -> np.ndarray:
    """Raised-cosine fade in and out (removes clicks at the clip edges)."""
    k = min(int(seconds * sr), len(x) // 2)
    if k < 2:
        return x
    ramp = 0.5 - 0.5 * np.cos(np.linspace(0.0, np.pi, k))
    x = x.copy()
    x[:k] *= ramp
    x[-k:] *= ramp[::-1]
    return x


def smooth_random(rng: np.random.Generator, n: int, rate_hz: float, sr: int = SR) -> np.ndarray:
    """A slowly wandering curve with values around [-1, 1], changing about ``rate_hz`` times a second.

    Random knots are joined by a smooth (cubic "smoothstep") interpolation: used for pitch jitter,
    tremolo, engine speed.
    """
    n_knots = int(np.ceil(n / sr * rate_hz)) + 2
    knots = rng.uniform(-1.0, 1.0, n_knots)
    pos = time_axis(n, sr) * rate_hz
    i = np.minimum(pos.astype(int), n_knots - 2)
    frac = pos - i
    w = frac * frac * (3.0 - 2.0 * frac)
    return knots[i] * (1.0 - w) + knots[i + 1] * w


# ------------------------------------------------------------------------------------------------ oscillators


def pitch_track(rng: np.random.Generator, n: int, f0: float, sr: int = SR, vibrato_rate: float = 0.0,
                vibrato_depth: float = 0.0, vibrato_delay: float = 0.0, jitter: float = 0.0,
                jitter_rate: float = 8.0, scoop: float = 0.0, scoop_time: float = 0.05) -> np.ndarray:
    """A fundamental-frequency curve in Hz: ``f0`` with vibrato, random jitter and an onset scoop.

    ``vibrato_depth`` and ``jitter`` are relative (0.01 = 1%); vibrato fades in after ``vibrato_delay`` s.
    ``scoop`` starts the note that much flat (relative) and glides up in ``scoop_time`` s (brass, voices).
    """
    t = time_axis(n, sr)
    ratio = np.ones(n)
    if vibrato_depth > 0 and vibrato_rate > 0:
        onset = np.clip((t - vibrato_delay) / 0.2, 0.0, 1.0)
        ratio += vibrato_depth * onset * np.sin(2 * np.pi * vibrato_rate * t + rng.uniform(0, 2 * np.pi))
    if jitter > 0:
        ratio += jitter * smooth_random(rng, n, jitter_rate, sr)
    if scoop:
        ratio *= 1.0 - scoop * np.exp(-t / max(scoop_time, 1e-3))
    return f0 * ratio


def phase_of(freq: np.ndarray | float, n: int, sr: int = SR) -> np.ndarray:
    """Instantaneous phase (radians) of an oscillator following ``freq`` (Hz, scalar or per-sample)."""
    freq = np.broadcast_to(np.asarray(freq, dtype=float), (n,))
    return 2.0 * np.pi * np.cumsum(freq) / sr


def sine(freq: np.ndarray | float, n: int, sr: int = SR, phase: float = 0.0) -> np.ndarray:
    return np.sin(phase_of(freq, n, sr) + phase)


def harmonic_tone(rng: np.random.Generator, f0: np.ndarray | float, amps, n: int, sr: int = SR) -> np.ndarray:
    """Additive synthesis: ``sum_k amps[k-1] * sin(k * phase(f0) + phi_k)`` over harmonics below Nyquist.

    ``amps`` is a 1-D array (one amplitude per harmonic) or 2-D (harmonics x frames): a time-varying
    spectrum given on a coarse frame grid and interpolated, e.g. formants that glide during a meow.
    Phases ``phi_k`` are random so that two notes never have identical waveforms.

    Speed trick: rather than evaluating ``sin(k * phase)`` for every harmonic, the complex phasor
    ``z = exp(i * phase)`` is raised to successive powers, ``z**k = z**(k-1) * z`` (one complex
    multiplication per sample and harmonic, several times faster than a sine).
    """
    amps = np.asarray(amps, dtype=float)
    f0 = np.broadcast_to(np.asarray(f0, dtype=float), (n,))
    z1 = np.exp(1j * phase_of(f0, n, sr))
    zk = np.ones(n, dtype=complex)
    fmax = float(np.max(f0))
    out = np.zeros(n)
    if amps.ndim == 2:  # linear interpolation weights from the frame grid to samples, computed once
        pos = np.linspace(0.0, amps.shape[1] - 1.0, n)
        i0 = np.minimum(pos.astype(int), amps.shape[1] - 2) if amps.shape[1] > 1 else np.zeros(n, dtype=int)
        w = pos - i0
        i1 = np.minimum(i0 + 1, amps.shape[1] - 1)
    for k in range(1, amps.shape[0] + 1):
        zk *= z1
        if k * fmax >= MAX_FREQ_SHARE * sr:
            break
        phi = rng.uniform(0, 2 * np.pi)
        wave = zk.imag * np.cos(phi) + zk.real * np.sin(phi)
        if amps.ndim == 1:
            out += amps[k - 1] * wave
        else:
            row = amps[k - 1]
            out += (row[i0] * (1.0 - w) + row[i1] * w) * wave
    return out


def modal(rng: np.random.Generator, n: int, freqs, t60s, amps, sr: int = SR) -> np.ndarray:
    """Modal synthesis: exponentially decaying sinusoids, the sound of a struck bar, bell, tube or plank.

    Each mode i rings at ``freqs[i]`` Hz with amplitude ``amps[i]`` and falls 60 dB in ``t60s[i]`` s.
    """
    t = time_axis(n, sr)
    out = np.zeros(n)
    for f, t60, a in zip(np.atleast_1d(freqs), np.atleast_1d(t60s), np.atleast_1d(amps)):
        if f >= MAX_FREQ_SHARE * sr or a == 0:
            continue
        m = min(n, int(t60 * 1.2 * sr) + 1)  # beyond ~-70 dB a mode is inaudible: skip the tail
        out[:m] += a * np.exp(-T60_LN * t[:m] / t60) * np.sin(2 * np.pi * f * t[:m] + rng.uniform(0, 2 * np.pi))
    return out


def karplus_strong(rng: np.random.Generator, excitation_times, f0: float, n: int, sr: int = SR,
                   sustain: float = 0.996, brightness: float = 0.5, gains=None) -> np.ndarray:
    """A plucked string (Karplus-Strong): noise bursts circulating in a damped delay line.

    The string is the recursion ``y[t] = x[t] + sustain * (y[t-N] + y[t-N-1]) / 2`` with ``N = sr / f0``:
    every trip round the loop averages neighbouring samples, so high harmonics die first, as on a real
    string. Written as the IIR filter ``1 / (1 - sustain/2 (z^-N + z^-(N+1)))`` and run by
    :func:`scipy.signal.lfilter` (vectorised C, no Python loop over samples). Each excitation is one period
    of noise, low-passed by ``brightness`` (0 dull .. 1 bright), placed at ``excitation_times`` (seconds).
    """
    period = max(2, int(round(sr / f0)) - 1)  # the two-tap average adds half a sample of delay
    x = np.zeros(n)
    gains = np.ones(len(excitation_times)) if gains is None else np.asarray(gains, dtype=float)
    for when, g in zip(excitation_times, gains):
        burst = rng.uniform(-1.0, 1.0, period)
        burst = lowpass(burst, 500.0 + 12000.0 * brightness ** 2, sr, order=1)
        place(x, g * (burst - burst.mean()), int(when * sr))
    a = np.zeros(period + 2)
    a[0] = 1.0
    a[period] = a[period + 1] = -0.5 * sustain
    return signal.lfilter([1.0], a, x)


def fm_tone(f_carrier: np.ndarray | float, ratio: float, index: np.ndarray | float, n: int, sr: int = SR,
            phase: float = 0.0) -> np.ndarray:
    """Frequency modulation: ``sin(phase_c + index * sin(ratio * phase_c))`` (electric pianos, bells)."""
    pc = phase_of(f_carrier, n, sr)
    return np.sin(pc + phase + np.asarray(index) * np.sin(ratio * pc))


# ------------------------------------------------------------------------------------------------ events


def place(buffer: np.ndarray, event: np.ndarray, start: int, gain: float = 1.0) -> None:
    """Add ``event`` into ``buffer`` from sample ``start`` on, cut at the buffer's end (in place)."""
    if start >= len(buffer) or start + len(event) <= 0:
        return
    skip = max(0, -start)
    start = max(0, start)
    m = min(len(event) - skip, len(buffer) - start)
    buffer[start:start + m] += gain * event[skip:skip + m]


def poisson_times(rng: np.random.Generator, duration: float, rate: float, min_gap: float = 0.0,
                  margin: float = 0.0, first_within: float = 0.3) -> np.ndarray:
    """Event onsets (seconds) of a Poisson process at ``rate`` per second, at least one event.

    Onsets lie in [0, duration - margin); consecutive onsets are at least ``min_gap`` apart. Like a
    Freesound upload trimmed around its sound, the first onset comes within the first ``first_within``
    share of the clip (all onsets are shifted earlier if it would not).
    """
    span = max(duration - margin, 1e-3)
    count = max(1, rng.poisson(rate * span))
    times = np.sort(rng.uniform(0.0, span, count))
    latest_first = first_within * span
    if times[0] > latest_first:
        times -= times[0] - rng.uniform(0.0, latest_first)
    if min_gap > 0 and len(times) > 1:
        keep = [times[0]]
        for t in times[1:]:  # a loop over events (a handful), not over samples
            if t - keep[-1] >= min_gap:
                keep.append(t)
        times = np.asarray(keep)
    return times


def regular_times(rng: np.random.Generator, duration: float, interval: float, jitter: float = 0.0,
                  start: float | None = None) -> np.ndarray:
    """Rhythmic onsets every ``interval`` seconds (relative timing ``jitter``), starting near the beginning."""
    start = rng.uniform(0.0, min(interval, 0.3 * duration)) if start is None else start
    times = np.arange(start, max(duration, start + 1e-3), interval)
    if jitter > 0:
        times = times + rng.normal(0.0, jitter * interval, len(times))
    times = np.clip(times, 0.0, None)
    return times[times < duration] if np.any(times < duration) else times[:1]


def impulse_train(rng: np.random.Generator, n: int, rate: float, sr: int = SR, envelope: np.ndarray | None = None,
                  heavy_tail: float = 0.0) -> np.ndarray:
    """Sparse random impulses (``rate`` per second) with random amplitudes: the raw material of crackles,
    applause and tearing. ``envelope`` (length n) modulates the density; ``heavy_tail`` > 0 draws amplitudes
    from a Pareto-like law so a few impulses stand out (crackle)."""
    count = rng.poisson(rate * n / sr)
    x = np.zeros(n)
    if count == 0:
        return x
    if envelope is not None:
        p = np.maximum(envelope, 0.0)
        total = p.sum()
        if total <= 0:
            return x
        pos = rng.choice(n, size=count, p=p / total)
    else:
        pos = rng.integers(0, n, count)
    amp = rng.uniform(0.3, 1.0, count) if heavy_tail <= 0 else np.minimum(rng.pareto(heavy_tail, count) + 0.2, 20.0)
    np.add.at(x, pos, amp * rng.choice([-1.0, 1.0], count))
    return x


def convolve(x: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    """Linear convolution cut to ``len(x)`` (overlap-add FFT; fast for long signals and kernels)."""
    if len(kernel) == 0 or len(x) == 0:
        return x
    return signal.oaconvolve(x, kernel)[:len(x)]
