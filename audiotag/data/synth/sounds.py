"""One procedural sound model per FSDKaggle2018 class.

Each model is a function ``render(rng, duration) -> waveform`` that returns exactly ``duration`` seconds at
44.1 kHz of a *dry* sound (no room, no background: :mod:`audiotag.data.synth.scene` adds those). It draws every
parameter it uses from ``rng``: pitch, register, loudness contour, number and timing of events, timbre
details. So two clips of a class share a recognisable recipe but never the same waveform.

The recipes follow the physics or the usual synthesis trick for each family (see :mod:`audiotag.data.synth.dsp`):

============================  =========================================================================
family                        recipe
============================  =========================================================================
winds, bowed strings, reeds   additive harmonics shaped by a class-specific spectral envelope; vibrato,
                              breath or bow noise; melodies or held notes in the class's register
plucked / electric piano      Karplus-Strong strings (guitar), FM tines (electric piano), decaying modes
bells and bars                modal synthesis with inharmonic partials (chime, glockenspiel, gong,
                              cowbell); struck at random times or in rhythm
drums and hits                a pitched body plus filtered noise (kick, snare, hi-hat, knock, gunshot)
textures                      shaped noise and dense micro-events (applause, tearing, writing, shatter)
voices and animals            a glottal harmonic source through moving formants (laughter, cough,
                              bark, meow, burp, fart)
machines                      engine / mains-hum drones with slow modulation (bus, microwave oven)
============================  =========================================================================

Some pairs are deliberately close, as they are for people (the DCASE 2018 report names Chime / Cowbell /
Glockenspiel and Flute / Clarinet): the bells share modal recipes with overlapping registers, and a high
clarinet is almost as pure as a flute.

:data:`SOUND_MODELS` maps each label to its :class:`SoundModel`.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from audiotag.data.labels import LABELS
from audiotag.data.synth import dsp
from audiotag.data.synth.dsp import SR, db, log_uniform, n_samples, place

Render = Callable[[np.random.Generator, float], np.ndarray]


@dataclass(frozen=True)
class SoundModel:
    """A class's generator. ``duration_scale`` stretches the corpus's clip-length distribution for this class
    (engines and applause run long, snaps and knocks are short, as on Freesound)."""

    label: str
    render: Render
    family: str
    duration_scale: float = 1.0


SOUND_MODELS: dict[str, SoundModel] = {}


def sound(label: str, family: str, duration_scale: float = 1.0):
    """Register ``render`` as the sound model of ``label``."""
    if label not in LABELS:
        raise ValueError(f"{label!r} is not one of the 41 FSDKaggle2018 labels")

    def register(render: Render) -> Render:
        SOUND_MODELS[label] = SoundModel(label, render, family, duration_scale)
        return render

    return register


# ============================================================================================ shared helpers


def note_plan(rng: np.random.Generator, duration: float, lengths=(0.25, 1.2), rest_probability: float = 0.2,
              held_probability: float = 0.3) -> list[tuple[float, float]]:
    """Split a clip into notes, as (onset s, length s). With ``held_probability`` one note fills the clip
    (many Freesound instrument clips are single sampled notes)."""
    if rng.random() < held_probability or duration < lengths[0] * 1.5:
        start = rng.uniform(0.0, min(0.05, 0.1 * duration))
        return [(start, duration - start)]
    notes, t = [], rng.uniform(0.0, min(0.1, 0.1 * duration))
    while t < duration - 0.06:
        length = min(float(log_uniform(rng, *lengths)), duration - t)
        notes.append((t, length))
        t += length * rng.uniform(0.85, 1.0)
        if rng.random() < rest_probability:
            t += rng.uniform(0.05, 0.35)
    return notes


def melody(rng: np.random.Generator, count: int, low: int, high: int, max_step: int = 5) -> np.ndarray:
    """MIDI note numbers of a random-walk melody within [low, high]."""
    notes = [int(rng.integers(low, high + 1))]
    for _ in range(count - 1):
        step = int(rng.integers(-max_step, max_step + 1))
        nxt = notes[-1] + step
        if nxt < low or nxt > high:
            nxt = notes[-1] - step
        notes.append(int(np.clip(nxt, low, high)))
    return np.asarray(notes)


def play_notes(rng: np.random.Generator, duration: float, midi_range: tuple[int, int], note: Callable,
               lengths=(0.25, 1.2), rest_probability: float = 0.2, held_probability: float = 0.3,
               max_step: int = 5) -> np.ndarray:
    """Render a melody: ``note(rng, n, f0) -> samples`` is called for every note of :func:`note_plan`."""
    n = n_samples(duration)
    out = np.zeros(n)
    plan = note_plan(rng, duration, lengths, rest_probability, held_probability)
    pitches = melody(rng, len(plan), *midi_range, max_step=max_step)
    for (start, length), midi in zip(plan, pitches):
        f0 = float(dsp.midi_to_hz(midi + rng.normal(0.0, 0.08)))
        place(out, note(rng, n_samples(length), f0) * db(rng.uniform(-4.0, 0.0)), int(start * SR))
    return out


def harmonic_count(f0: float, limit: int = 40) -> int:
    return int(max(1, min(limit, dsp.MAX_FREQ_SHARE * SR / f0)))


def harmonic_amps(rng: np.random.Generator, f0: float, peaks=(), tilt: float = 0.0, per_harmonic_db: float = 0.0,
                  even_db: float = 0.0, even_below_hz: float = np.inf, spread_db: float = 2.0,
                  limit: int = 40) -> np.ndarray:
    """Amplitudes of the harmonics of ``f0``: ``per_harmonic_db`` per doubling of the harmonic number
    (a source slope), a spectral envelope over frequency (``peaks``, ``tilt``), even harmonics changed by
    ``even_db`` below ``even_below_hz`` (a clarinet's missing even partials), and random ``spread_db``."""
    k = np.arange(1, harmonic_count(f0, limit) + 1)
    amps = dsp.spectral_envelope(k * f0, peaks, tilt) * k ** (per_harmonic_db / 6.0206)
    even = (k % 2 == 0) & (k * f0 < even_below_hz)
    amps[even] *= db(even_db)
    return amps * 10.0 ** (rng.normal(0.0, spread_db, len(k)) / 20.0)


def breath(rng: np.random.Generator, n: int, low: float, high: float, envelope: np.ndarray) -> np.ndarray:
    return dsp.band_noise(rng, n, low, high) * envelope


def hit_times(rng: np.random.Generator, duration: float, interval=(0.25, 0.8), single_probability: float = 0.2,
              jitter: float = 0.03) -> np.ndarray:
    """Onsets of a drum part: one hit, or a steady pulse with the occasional skipped beat."""
    if rng.random() < single_probability or duration < 0.5:
        return np.array([rng.uniform(0.0, min(0.1, 0.2 * duration))])
    times = dsp.regular_times(rng, duration, float(log_uniform(rng, *interval)), jitter)
    keep = rng.random(len(times)) > 0.1
    keep[0] = True
    return times[keep]


def scatter(rng: np.random.Generator, n: int, kernels: list[np.ndarray], times, gains=None) -> np.ndarray:
    """Place a randomly chosen kernel at each onset time (seconds)."""
    out = np.zeros(n)
    gains = np.ones(len(times)) if gains is None else gains
    for t, g in zip(times, gains):
        place(out, kernels[int(rng.integers(len(kernels)))], int(t * SR), g)
    return out


def noise_burst(rng: np.random.Generator, seconds: float, low: float | None, high: float | None, t60: float,
                attack: float = 0.001) -> np.ndarray:
    """A short band-limited noise event with a fast attack and exponential decay (clicks, claps, cracks)."""
    m = n_samples(seconds)
    env = dsp.decay(m, t60) * np.minimum(1.0, dsp.time_axis(m) / max(attack, 1e-4))
    return dsp.band_noise(rng, m, low, high) * env


def voice(rng: np.random.Generator, f0: np.ndarray, formants, breathiness: float = 0.1, hop: int = 512,
          source_slope_db: float = -12.0) -> np.ndarray:
    """A voiced sound: a glottal harmonic source (``source_slope_db`` per octave) through formants.

    ``formants`` is a list of (centre, width in octaves, gain dB) where each centre may be a scalar or an
    array of per-frame values (``hop`` samples a frame) so the vowel can glide, as in "mee-ow". A little
    aspiration noise through the same resonances makes the voice breathy.
    """
    n = len(f0)
    frames = n // hop + 2
    f0_frames = np.interp(np.linspace(0, n - 1, frames), np.arange(n), f0)
    k = np.arange(1, harmonic_count(float(np.min(f0)), 60) + 1)[:, None]
    peaks = [(np.broadcast_to(np.asarray(c, dtype=float), (frames,))[None, :], w, g) for c, w, g in formants]
    amps = dsp.spectral_envelope(k * f0_frames[None, :], peaks, 0.0) * k ** (source_slope_db / 6.0206)
    voiced = dsp.harmonic_tone(rng, f0, amps, n)
    voiced = dsp.unit_rms(voiced)
    if breathiness > 0:
        mean_formants = [(float(np.mean(c)), float(np.mean(c)) * w, g) for c, w, g in formants]
        noise = dsp.unit_rms(dsp.formant_filter(rng.standard_normal(n), mean_formants))
        voiced = voiced + breathiness * noise
    return voiced


def syllable_envelope(n: int, attack: float, release: float) -> np.ndarray:
    return dsp.adsr(n, attack, 0.0, 1.0, release)


# ============================================================================================ wind instruments


@sound("Oboe", "wind", 1.2)
def oboe(rng, duration):
    formant1, formant2 = rng.uniform(950, 1450), rng.uniform(2600, 3400)
    vib_rate, vib_depth = rng.uniform(4.5, 6.5), rng.uniform(0.002, 0.007)

    def note(rng, n, f0):
        f = dsp.pitch_track(rng, n, f0, vibrato_rate=vib_rate, vibrato_depth=vib_depth, vibrato_delay=0.15,
                            jitter=0.002)
        amps = harmonic_amps(rng, f0, [(formant1, 0.45, 14.0), (formant2, 0.35, 7.0)], tilt=-4.0)
        env = dsp.adsr(n, rng.uniform(0.02, 0.06), 0.05, rng.uniform(0.75, 0.95), rng.uniform(0.04, 0.12))
        tone = dsp.unit_rms(dsp.harmonic_tone(rng, f, amps, n))
        return env * (tone + db(rng.uniform(-38, -28)) * dsp.band_noise(rng, n, 1500, 6000))

    return play_notes(rng, duration, (58, 88), note, lengths=(0.2, 1.5))


@sound("Clarinet", "wind", 1.2)
def clarinet(rng, duration):
    even_db = rng.uniform(-24.0, -10.0)
    even_below = rng.uniform(1200.0, 3000.0)
    low_tilt, high_tilt = rng.uniform(-10.0, -3.0), rng.uniform(-16.0, -8.0)
    breathy = db(rng.uniform(-36.0, -18.0))
    vib_depth = rng.choice([0.0, rng.uniform(0.001, 0.004)])

    def note(rng, n, f0):
        f = dsp.pitch_track(rng, n, f0, vibrato_rate=rng.uniform(4.5, 6.0), vibrato_depth=vib_depth, jitter=0.0015)
        # the upper (clarion) register is much purer than the low (chalumeau) one: close to a flute
        tilt = low_tilt if f0 < 400.0 else high_tilt
        amps = harmonic_amps(rng, f0, [(rng.uniform(1400, 2200), 0.5, 4.0)], tilt=tilt, even_db=even_db,
                             even_below_hz=even_below)
        env = dsp.adsr(n, rng.uniform(0.03, 0.09), 0.05, rng.uniform(0.8, 0.97), rng.uniform(0.05, 0.15))
        tone = dsp.unit_rms(dsp.harmonic_tone(rng, f, amps, n))
        return env * (tone + breathy * dsp.band_noise(rng, n, 800, 7000))

    return play_notes(rng, duration, (50, 89), note, lengths=(0.2, 1.6))


@sound("Flute", "wind", 1.2)
def flute(rng, duration):
    tilt = rng.uniform(-20.0, -9.0)
    breathy = db(rng.uniform(-24.0, -10.0))
    vib_rate, vib_depth = rng.uniform(4.3, 5.8), rng.uniform(0.003, 0.011)

    def note(rng, n, f0):
        f = dsp.pitch_track(rng, n, f0, vibrato_rate=vib_rate, vibrato_depth=vib_depth, vibrato_delay=0.2,
                            jitter=0.002)
        amps = harmonic_amps(rng, f0, tilt=tilt, spread_db=3.0, limit=12)
        env = dsp.adsr(n, rng.uniform(0.04, 0.12), 0.05, rng.uniform(0.8, 0.97), rng.uniform(0.06, 0.2))
        tremolo = 1.0 + rng.uniform(0.03, 0.15) * np.sin(dsp.phase_of(vib_rate, n))
        tone = dsp.unit_rms(dsp.harmonic_tone(rng, f, amps, n)) * tremolo
        air = dsp.band_noise(rng, n, rng.uniform(600, 1500), rng.uniform(5000, 10000))
        chiff = dsp.decay(n, 0.06) * dsp.band_noise(rng, n, 1000, 8000)
        return env * (tone + breathy * air) + 0.3 * chiff

    return play_notes(rng, duration, (60, 96), note, lengths=(0.2, 1.5))


@sound("Saxophone", "wind", 1.2)
def saxophone(rng, duration):
    f1, f2 = rng.uniform(420, 850), rng.uniform(1400, 2600)
    tilt = rng.uniform(-5.0, -1.5)
    growl = rng.random() < 0.3

    def note(rng, n, f0):
        f = dsp.pitch_track(rng, n, f0, vibrato_rate=rng.uniform(4.8, 6.2), vibrato_depth=rng.uniform(0.003, 0.012),
                            vibrato_delay=0.25, jitter=0.003, scoop=rng.uniform(0.0, 0.03))
        amps = harmonic_amps(rng, f0, [(f1, 0.6, 9.0), (f2, 0.5, 6.0)], tilt=tilt, spread_db=3.0)
        env = dsp.adsr(n, rng.uniform(0.02, 0.07), 0.08, rng.uniform(0.7, 0.95), rng.uniform(0.05, 0.15))
        tone = dsp.unit_rms(dsp.harmonic_tone(rng, f, amps, n))
        if growl:
            tone *= 1.0 + 0.25 * dsp.smooth_random(rng, n, rng.uniform(25, 45))
        return env * (tone + db(rng.uniform(-30, -20)) * dsp.band_noise(rng, n, 1000, 6000))

    return play_notes(rng, duration, (49, 82), note, lengths=(0.15, 1.2))


@sound("Trumpet", "brass", 1.1)
def trumpet(rng, duration):
    muted = rng.random() < 0.2
    peak = rng.uniform(1500, 2500) if muted else rng.uniform(1000, 1600)
    tilt = rng.uniform(-3.0, -0.5)

    def note(rng, n, f0):
        f = dsp.pitch_track(rng, n, f0, vibrato_rate=5.5, vibrato_depth=rng.choice([0.0, 0.004]),
                            jitter=0.002, scoop=rng.uniform(0.01, 0.05), scoop_time=0.04)
        base = harmonic_amps(rng, f0, [(peak, 0.6, 10.0 if muted else 7.0)], tilt=tilt, limit=30)
        if muted:
            base *= dsp.spectral_envelope(np.arange(1, len(base) + 1) * f0, [(300.0, 0.6, -12.0)])
        frames = n // 512 + 2
        frame_env = dsp.adsr(n, rng.uniform(0.02, 0.05), 0.08, rng.uniform(0.7, 0.95), rng.uniform(0.04, 0.1))
        frame_env = frame_env[np.linspace(0, n - 1, frames).astype(int)]
        k = np.arange(1, len(base) + 1)[:, None]
        amps = base[:, None] * np.maximum(frame_env[None, :], 1e-4) ** (0.35 * (k - 1))  # brass: louder = brighter
        return dsp.harmonic_tone(rng, f, amps * frame_env[None, :], n)

    return play_notes(rng, duration, (52, 84), note, lengths=(0.12, 1.0))


@sound("Harmonica", "wind", 1.2)
def harmonica(rng, duration):
    tremolo_rate = rng.uniform(4.0, 7.0) if rng.random() < 0.4 else 0.0
    f1 = rng.uniform(1300, 2600)

    def note(rng, n, f0):
        out = np.zeros(n)
        chord = [0] if rng.random() < 0.4 else [0, int(rng.choice([3, 4, 5])), 7][: int(rng.integers(2, 4))]
        bend = rng.uniform(0.02, 0.06) if rng.random() < 0.25 else 0.0
        for interval in chord:
            fi = f0 * 2 ** (interval / 12)
            for detune in (-1, 1):  # two reeds slightly out of tune: the harmonica's beating
                cents = detune * rng.uniform(2.0, 8.0)
                f = dsp.pitch_track(rng, n, fi * 2 ** (cents / 1200), jitter=0.002, scoop=bend, scoop_time=0.12)
                out += dsp.harmonic_tone(rng, f, harmonic_amps(rng, fi, [(f1, 0.5, 6.0)], tilt=-3.0,
                                                                per_harmonic_db=-2.0, limit=30), n)
        env = dsp.adsr(n, rng.uniform(0.01, 0.04), 0.05, rng.uniform(0.7, 0.95), rng.uniform(0.03, 0.1))
        if tremolo_rate:
            env = env * (1.0 - rng.uniform(0.3, 0.7) * (0.5 + 0.5 * np.sin(dsp.phase_of(tremolo_rate, n))))
        return env * (dsp.unit_rms(out) + db(-30) * dsp.band_noise(rng, n, 500, 5000))

    return play_notes(rng, duration, (60, 91), note, lengths=(0.12, 0.9), held_probability=0.2)


# ============================================================================================ bowed strings


def bowed_strings(rng, duration, midi_range, body, vibrato_depth, bow_band, pizzicato_probability):
    """Violin family: a sawtooth-like bowed source (harmonics ~ 1/k) through the instrument body's
    resonances, with vibrato and bow noise; sometimes plucked (pizzicato: decaying harmonic modes)."""
    peaks = [(c * rng.uniform(0.9, 1.1), w, g) for c, w, g in body]
    if rng.random() < pizzicato_probability:
        def note(rng, n, f0):
            k = np.arange(1, harmonic_count(f0, 25) + 1)
            amps = harmonic_amps(rng, f0, peaks, per_harmonic_db=-4.0, limit=25)
            t60 = rng.uniform(0.6, 2.0) / k ** 0.6
            return dsp.modal(rng, n, k * f0, t60, amps)
        return play_notes(rng, duration, midi_range, note, lengths=(0.15, 0.6), held_probability=0.1)

    depth = rng.uniform(*vibrato_depth)

    def note(rng, n, f0):
        f = dsp.pitch_track(rng, n, f0, vibrato_rate=rng.uniform(4.8, 7.0), vibrato_depth=depth,
                            vibrato_delay=0.1, jitter=0.002)
        amps = harmonic_amps(rng, f0, peaks, per_harmonic_db=-6.0, spread_db=3.0, limit=40)
        env = dsp.adsr(n, rng.uniform(0.05, 0.18), 0.1, rng.uniform(0.7, 0.95), rng.uniform(0.05, 0.25))
        bow = dsp.band_noise(rng, n, *bow_band) * (1.0 + 0.5 * dsp.smooth_random(rng, n, 6.0))
        return env * (dsp.unit_rms(dsp.harmonic_tone(rng, f, amps, n)) + db(rng.uniform(-32, -20)) * bow)

    return play_notes(rng, duration, midi_range, note, lengths=(0.2, 1.6), max_step=4)


@sound("Violin_or_fiddle", "bowed", 1.3)
def violin(rng, duration):
    body = [(280.0, 0.25, 6.0), (480.0, 0.3, 5.0), (2900.0, 0.5, 7.0), (1500.0, 0.3, -5.0)]
    return bowed_strings(rng, duration, (55, 93), body, (0.003, 0.009), (2000, 8000), 0.1)


@sound("Cello", "bowed", 1.3)
def cello(rng, duration):
    body = [(110.0, 0.3, 6.0), (220.0, 0.3, 5.0), (1200.0, 0.5, 4.0), (600.0, 0.3, -4.0)]
    return bowed_strings(rng, duration, (36, 76), body, (0.002, 0.007), (800, 5000), 0.15)


@sound("Double_bass", "bowed", 1.2)
def double_bass(rng, duration):
    body = [(65.0, 0.3, 6.0), (120.0, 0.3, 4.0), (500.0, 0.5, 3.0), (300.0, 0.3, -3.0)]
    return bowed_strings(rng, duration, (28, 60), body, (0.001, 0.004), (300, 3000), 0.45)


# ============================================================================================ plucked, keys


@sound("Acoustic_guitar", "plucked", 1.4)
def acoustic_guitar(rng, duration):
    """Karplus-Strong strings: strummed chords or picked notes, through a guitar-body resonance."""
    n = n_samples(duration)
    open_strings = np.array([40, 45, 50, 55, 59, 64])
    t60 = rng.uniform(1.2, 4.0)
    brightness = rng.uniform(0.3, 0.9)
    excitations: dict[float, list[tuple[float, float]]] = {}  # string pitch (MIDI) -> [(time, gain)]
    if rng.random() < 0.55:  # strumming
        capo = int(rng.integers(0, 5))
        shapes = [open_strings + capo + rng.integers(0, 4, 6) for _ in range(int(rng.integers(1, 3)))]
        for i, t in enumerate(dsp.regular_times(rng, duration, float(rng.uniform(0.3, 0.9)), 0.03)):
            shape = shapes[i % len(shapes)]
            down = rng.random() < 0.7
            order = range(6) if down else range(5, -1, -1)
            spacing = rng.uniform(0.006, 0.025)
            for j, s in enumerate(order):
                if rng.random() < 0.12:
                    continue
                excitations.setdefault(float(shape[s]), []).append((t + j * spacing, rng.uniform(0.5, 1.0)))
    else:  # picking single notes (an arpeggio or a melody)
        strings = rng.integers(0, 6, 64)
        frets = rng.integers(0, 10, 6)
        for t, s in zip(dsp.regular_times(rng, duration, float(rng.uniform(0.15, 0.5)), 0.05), strings):
            excitations.setdefault(float(open_strings[s] + frets[s]), []).append((t, rng.uniform(0.5, 1.0)))
    out = np.zeros(n)
    for midi, hits in excitations.items():
        hits = [(t, g) for t, g in hits if t < duration - 0.01]
        if not hits:
            continue
        f0 = float(dsp.midi_to_hz(midi))
        sustain = float(10.0 ** (-3.0 / (t60 * f0)))
        first = int(min(t for t, _ in hits) * SR)
        last = int(max(t for t, _ in hits) * SR)
        stop = min(n, last + int(t60 * SR))  # only run the string while it rings
        seg = dsp.karplus_strong(rng, [t - first / SR for t, _ in hits], f0, stop - first,
                                 sustain=sustain, brightness=brightness, gains=[g for _, g in hits])
        out[first:stop] += seg
    body = dsp.formant_filter(out, [(rng.uniform(90, 115), 30.0, 0.0), (rng.uniform(190, 240), 60.0, -3.0)])
    return out + 0.6 * dsp.unit_rms(body) * dsp.rms(out)


@sound("Electric_piano", "keys", 1.5)
def electric_piano(rng, duration):
    """Rhodes-style FM tines: a decaying carrier whose modulation index falls, plus a bell-like tine partial."""
    n = n_samples(duration)
    out = np.zeros(n)
    tremolo = rng.uniform(3.0, 6.0) if rng.random() < 0.4 else 0.0
    t60 = rng.uniform(1.5, 4.5)
    index0 = rng.uniform(0.8, 3.0)
    wurli = rng.random() < 0.3
    interval = float(rng.uniform(0.25, 1.2))
    times = [0.02] if rng.random() < 0.25 else dsp.regular_times(rng, duration, interval, 0.04)
    root = int(rng.integers(45, 72))
    for t in times:
        chord = root + np.array([0, 4, 7, 11, 14])[: int(rng.integers(1, 5))] + int(rng.integers(-5, 6))
        for midi in chord:
            f0 = float(dsp.midi_to_hz(midi))
            m = min(n - int(t * SR), int(t60 * SR))
            if m <= 0:
                continue
            tt = dsp.time_axis(m)
            index = index0 * np.exp(-tt / rng.uniform(0.08, 0.4)) + 0.2
            tone = dsp.fm_tone(f0, 1.0, index, m, phase=rng.uniform(0, 2 * np.pi))
            if wurli:
                tone = np.tanh(2.0 * tone)
            tine = (rng.uniform(0.05, 0.3) * dsp.decay(m, rng.uniform(0.1, 0.4))
                    * dsp.sine(f0 * rng.uniform(6.8, 8.2), m))
            place(out, (tone * dsp.decay(m, t60 * rng.uniform(0.8, 1.2)) + tine) * rng.uniform(0.5, 1.0), int(t * SR))
        if len(times) > 1 and rng.random() < 0.3:
            root = int(np.clip(root + rng.integers(-5, 6), 40, 76))
    if tremolo:
        out *= 1.0 - rng.uniform(0.2, 0.5) * (0.5 + 0.5 * np.sin(dsp.phase_of(tremolo, n)))
    return out


# ============================================================================================ bells and bars


def struck_modes(rng, n_max, f0, ratios, amps, t60, t60_power=0.5, detune=0.01):
    """One strike of a bar/tube/bell: modes ``f0 * ratios`` whose decay time shrinks as ``ratio**-t60_power``."""
    ratios = np.asarray(ratios) * (1.0 + rng.normal(0.0, detune, len(ratios)))
    t60s = t60 / ratios ** t60_power
    m = min(n_max, int(1.1 * t60 * SR) + 1)
    return dsp.modal(rng, m, f0 * ratios, t60s, amps)


#: Partials of a free-free bar or tube (tubular bells, wind chimes, glockenspiel bars): 1, 2.76, 5.40, 8.93 f0.
FREE_BAR_RATIOS = (1.0, 2.756, 5.404, 8.933)


@sound("Chime", "bells", 1.6)
def chime(rng, duration):
    """Wind chimes: a handful of tuned tubes struck at random (wind) or swept by hand."""
    n = n_samples(duration)
    base = rng.uniform(66, 90)
    pentatonic = np.array([0, 2, 4, 7, 9, 12, 14, 16])
    tubes = base + rng.choice(pentatonic, int(rng.integers(4, 8)), replace=False)
    t60 = rng.uniform(1.2, 5.0)
    hardness = rng.uniform(0.3, 1.0)
    amps = np.array([1.0, 0.8 * hardness, 0.5 * hardness, 0.25 * hardness])
    strikes = [struck_modes(rng, n, float(dsp.midi_to_hz(m)), FREE_BAR_RATIOS, amps, t60, 0.6) for m in tubes]
    if rng.random() < 0.3:  # a hand sweep across the tubes, then loose strikes
        sweep = rng.uniform(0.02, 0.06)
        times = np.concatenate([np.arange(len(tubes)) * sweep + 0.02,
                                dsp.poisson_times(rng, duration, rng.uniform(0.5, 2.0))])
    else:
        times = dsp.poisson_times(rng, duration, log_uniform(rng, 1.5, 8.0), min_gap=0.04)
    return scatter(rng, n, strikes, times, db(rng.uniform(-12.0, 0.0, len(times))))


@sound("Glockenspiel", "bells", 1.0)
def glockenspiel(rng, duration):
    """Steel bars with a dominant fundamental, played as a melody in a steady rhythm."""
    n = n_samples(duration)
    t60 = rng.uniform(0.5, 2.5)
    hardness = rng.uniform(0.1, 0.6)
    amps = np.array([1.0, 0.6 * hardness, 0.3 * hardness, 0.1 * hardness])
    plan = dsp.regular_times(rng, duration, float(log_uniform(rng, 0.12, 0.6)), 0.02)
    if rng.random() < 0.2:
        plan = plan[:1]
    notes = melody(rng, len(plan), 77, 103, max_step=4)
    out = np.zeros(n)
    for t, midi in zip(plan, notes):
        strike = struck_modes(rng, n, float(dsp.midi_to_hz(midi)), FREE_BAR_RATIOS, amps, t60, 0.8, detune=0.015)
        click = noise_burst(rng, 0.004, 3000, None, 0.003)
        strike[: len(click)] += 0.2 * hardness * click[: len(strike)]
        place(out, strike, int(t * SR), db(rng.uniform(-6.0, 0.0)))
    return out


@sound("Cowbell", "bells", 0.8)
def cowbell(rng, duration):
    """A cowbell: a few strong inharmonic modes with a short decay; hit in rhythm, or a cattle bell clanking."""
    n = n_samples(duration)
    f0 = rng.uniform(450, 950)
    ratios = np.array([1.0, rng.uniform(1.4, 1.6), rng.uniform(2.1, 2.5), rng.uniform(2.9, 3.4), rng.uniform(4.0, 4.6)])
    amps = np.array([1.0, rng.uniform(0.5, 1.0), rng.uniform(0.2, 0.6), rng.uniform(0.1, 0.4), rng.uniform(0.05, 0.3)])
    cattle = rng.random() < 0.45
    t60 = rng.uniform(0.5, 1.6) if cattle else rng.uniform(0.15, 0.7)
    strikes = []
    for _ in range(3):
        s = struck_modes(rng, n, f0, ratios, amps * db(rng.uniform(-3, 3, 5)), t60, 0.3, detune=0.005)
        click = noise_burst(rng, 0.012, 1000, 6000, 0.01)
        s[: len(click)] += 0.3 * click[: len(s)]
        strikes.append(s)
    if cattle:
        times = dsp.poisson_times(rng, duration, rng.uniform(2.0, 7.0), min_gap=0.05)
    else:
        times = hit_times(rng, duration, (0.18, 0.6))
    gains = db(rng.uniform(-8.0, 0.0, len(times)))
    return scatter(rng, n, strikes, times, gains)


@sound("Gong", "bells", 1.8)
def gong(rng, duration):
    """A gong / tam-tam: many inharmonic modes that bloom (upper modes swell after the strike) and ring long."""
    n = n_samples(duration)
    f0 = rng.uniform(60, 260)
    count = int(rng.integers(12, 26))
    ratios = np.cumsum(np.concatenate([[1.0], rng.uniform(0.15, 0.9, count - 1)]))
    ratios = ratios[ratios * f0 < 9000]
    amps = ratios ** -rng.uniform(0.3, 0.9) * db(rng.uniform(-6, 6, len(ratios)))
    t60 = rng.uniform(2.5, 9.0)
    bloom = rng.uniform(0.05, 0.6)
    glide = rng.uniform(-0.06, 0.06) if rng.random() < 0.25 else 0.0  # Chinese opera gongs bend
    strike_times = [rng.uniform(0.0, 0.05)]
    if duration > 3 and rng.random() < 0.4:
        strike_times.append(rng.uniform(1.5, duration - 1.0))
    out = np.zeros(n)
    for ts in strike_times:
        m = n - int(ts * SR)
        t = dsp.time_axis(m)
        hit = np.zeros(m)
        for r, a in zip(ratios, amps):
            freq = f0 * r * (1.0 + glide * (1.0 - np.exp(-t / 0.3)))
            swell = 1.0 - np.exp(-t / (1e-3 + bloom * min(1.0, (r - 1.0) / 4.0)))
            hit += (a * swell * np.exp(-dsp.T60_LN * t / (t60 / r ** 0.3))
                    * np.sin(dsp.phase_of(freq, m) + rng.uniform(0, 6.3)))
        thud = dsp.lowpass(noise_burst(rng, 0.05, None, 400, 0.04), 400)
        hit[: len(thud)] += 0.5 * thud[: m]
        place(out, hit, int(ts * SR), db(rng.uniform(-6, 0)))
    return out


# ============================================================================================ drums and hits


@sound("Bass_drum", "drums", 0.7)
def bass_drum(rng, duration):
    """Kick drum: a sine body whose pitch drops fast after the hit, plus a beater click."""
    n = n_samples(duration)
    f_end = rng.uniform(42, 75)
    f_start = f_end * rng.uniform(1.8, 4.0)
    tau = rng.uniform(0.01, 0.05)
    t60 = rng.uniform(0.2, 1.0)
    m = min(n, int(t60 * 1.1 * SR) + 1)
    t = dsp.time_axis(m)
    freq = f_end + (f_start - f_end) * np.exp(-t / tau)
    body = np.sin(dsp.phase_of(freq, m)) * dsp.decay(m, t60)
    if rng.random() < 0.4:
        body += 0.3 * np.sin(dsp.phase_of(freq * 1.5, m)) * dsp.decay(m, 0.5 * t60)
    click = noise_burst(rng, 0.006, 1500, None, 0.004)
    body[: len(click)] += rng.uniform(0.05, 0.5) * click[:m]
    body = np.tanh(rng.uniform(1.0, 3.0) * body)
    times = hit_times(rng, duration, (0.3, 0.9), 0.3)
    return scatter(rng, n, [body], times, db(rng.uniform(-3.0, 0.0, len(times))))


@sound("Snare_drum", "drums", 0.7)
def snare_drum(rng, duration):
    """Snare: a short two-mode drum body plus a band of rattling wire noise; backbeats, single hits or rolls."""
    n = n_samples(duration)
    f1 = rng.uniform(150, 260)
    wires = rng.uniform(0.5, 1.3)
    wire_t60 = rng.uniform(0.12, 0.45)
    band = (rng.uniform(1200, 3000), rng.uniform(7000, 12000))
    hits = []
    for _ in range(3):
        m = n_samples(max(wire_t60, 0.2) * 1.1)
        body = dsp.modal(rng, m, [f1, f1 * 1.59, f1 * 2.14], [0.15, 0.1, 0.07], [1.0, 0.5, 0.25])
        noise = noise_burst(rng, m / SR, *band, wire_t60)
        hits.append(rng.uniform(0.4, 1.0) * body + wires * noise)
    style = rng.random()
    if style < 0.25 and duration > 0.6:  # a press roll with a crescendo
        rate = rng.uniform(12.0, 24.0)
        times = dsp.regular_times(rng, duration, 1.0 / rate, 0.1)
        gains = np.linspace(rng.uniform(0.2, 0.6), 1.0, len(times)) * db(rng.uniform(-3, 0, len(times)))
    else:
        times = hit_times(rng, duration, (0.35, 1.0), 0.3)
        gains = db(rng.uniform(-4.0, 0.0, len(times)))
    return scatter(rng, n, hits, times, gains)


#: The six square-wave oscillators of a TR-808 hi-hat / cymbal (Hz), scaled per clip.
METAL_OSCILLATORS = (205.3, 304.4, 369.6, 522.7, 540.0, 800.0)


def metallic_noise(rng, m, scale):
    t = dsp.time_axis(m)
    out = sum(np.sign(np.sin(2 * np.pi * f * scale * t + rng.uniform(0, 6.3))) for f in METAL_OSCILLATORS)
    return dsp.unit_rms(out)


@sound("Hi-hat", "drums", 0.7)
def hi_hat(rng, duration):
    """Hi-hat: inharmonic square-wave clang plus noise, high-passed; closed (short) and open (ringing) hits."""
    n = n_samples(duration)
    scale = rng.uniform(1.0, 2.5)
    low = rng.uniform(5000, 9000)
    kernels = []
    for open_hat in (False, True):
        t60 = rng.uniform(0.3, 1.0) if open_hat else rng.uniform(0.03, 0.12)
        m = n_samples(t60 * 1.1)
        raw = metallic_noise(rng, m, scale) + rng.uniform(0.3, 1.0) * rng.standard_normal(m)
        kernels.append(dsp.highpass(raw, low, order=4) * dsp.decay(m, t60))
    times = hit_times(rng, duration, (0.1, 0.3), 0.15, jitter=0.02)
    accents = np.where(np.arange(len(times)) % 2 == 0, 1.0, db(rng.uniform(-8, -2)))
    open_share = rng.uniform(0.0, 0.4)
    out = np.zeros(n)
    for t, g in zip(times, accents):
        place(out, kernels[int(rng.random() < open_share)], int(t * SR), g * db(rng.uniform(-2, 0)))
    return out


@sound("Tambourine", "drums", 0.9)
def tambourine(rng, duration):
    """Tambourine: clusters of tiny metallic jingles (high modes, spread over a few ms), shaken or struck."""
    n = n_samples(duration)
    jingle_freqs = rng.uniform(3500, 11000, (int(rng.integers(6, 14)), 3))
    jingle_t60 = rng.uniform(0.05, 0.3)
    kernels = []
    for _ in range(3):
        m = n_samples(jingle_t60 + 0.05)
        hit = np.zeros(m)
        for freqs in jingle_freqs:
            ping = dsp.modal(rng, m, freqs * rng.uniform(0.98, 1.02), [jingle_t60] * 3, rng.uniform(0.3, 1.0, 3))
            place(hit, ping, int(rng.uniform(0.0, 0.025) * SR))
        hit[: int(0.01 * SR)] += 0.5 * noise_burst(rng, 0.01, 4000, None, 0.008)
        kernels.append(hit)
    if rng.random() < 0.5:  # shaking: fast jingle clusters under a swelling envelope
        rate = rng.uniform(6.0, 14.0)
        times = dsp.regular_times(rng, duration, 1.0 / rate, 0.15)
        gains = 0.4 + 0.6 * (0.5 + 0.5 * np.sin(2 * np.pi * rng.uniform(0.5, 2.0) * times + rng.uniform(0, 6.3)))
        out = scatter(rng, n, kernels, times, gains)
    else:  # struck: a head thump with each jingle cluster
        times = hit_times(rng, duration, (0.2, 0.6), 0.2)
        out = scatter(rng, n, kernels, times, db(rng.uniform(-5, 0, len(times))))
        thump = dsp.modal(rng, n_samples(0.15), [rng.uniform(200, 350)], [0.08], [0.5])
        out += scatter(rng, n, [thump], times)
    return out


@sound("Knock", "hits", 0.7)
def knock(rng, duration):
    """Knuckles on wood: a few low wooden modes that die within a tenth of a second, in little groups."""
    n = n_samples(duration)
    f1 = rng.uniform(110, 420)
    freqs = [f1, f1 * rng.uniform(1.6, 2.4), f1 * rng.uniform(3.0, 4.5), rng.uniform(800, 2200)]
    t60s = np.array([rng.uniform(0.04, 0.16), 0.06, 0.04, 0.02])
    kernels = []
    for _ in range(3):
        k = dsp.modal(rng, n_samples(0.2), freqs, t60s * rng.uniform(0.8, 1.2), [1.0, 0.6, 0.3, 0.2])
        click = dsp.lowpass(noise_burst(rng, 0.004, None, 5000, 0.003), 5000)
        k[: len(click)] += 0.3 * click
        kernels.append(k)
    times = []
    for start in dsp.poisson_times(rng, duration, rng.uniform(0.2, 0.8), min_gap=0.8, margin=0.3):
        count = int(rng.integers(1, 6))
        gap = rng.uniform(0.09, 0.3)
        times.extend(start + gap * np.arange(count) + rng.normal(0, 0.01, count))
    times = np.clip(np.asarray(times), 0.0, None)
    return scatter(rng, n, kernels, times, db(rng.uniform(-5, 0, len(times))))


@sound("Gunshot_or_gunfire", "hits", 0.9)
def gunshot(rng, duration):
    """A gunshot: a saturated broadband crack, a low boom, and outdoor echoes; single shots or bursts."""
    n = n_samples(duration)
    boom_t60 = rng.uniform(0.2, 1.2)
    cutoff = rng.uniform(300, 1500)
    m = n_samples(boom_t60 * 1.1 + 0.5)
    shot = 2.0 * noise_burst(rng, m / SR, None, None, rng.uniform(0.01, 0.04), attack=0.0005)
    boom = dsp.unit_peak(dsp.lowpass(rng.standard_normal(m), cutoff, order=4)) * dsp.decay(m, boom_t60)
    shot += rng.uniform(0.4, 1.0) * boom
    for _ in range(int(rng.integers(0, 3))):  # reflections from buildings or trees
        echo = dsp.lowpass(shot, rng.uniform(800, 3000)) * db(rng.uniform(-16, -6))
        place(shot, echo.copy(), int(rng.uniform(0.05, 0.4) * SR))
    shot = np.tanh(rng.uniform(1.0, 4.0) * dsp.unit_peak(shot))
    style = rng.random()
    if style < 0.4:
        times = np.array([rng.uniform(0.0, min(0.2, 0.3 * duration))])
    elif style < 0.7:
        times = dsp.poisson_times(rng, duration, rng.uniform(0.5, 2.5), min_gap=0.15, margin=0.1)
    else:  # automatic fire
        rate = rng.uniform(7.0, 15.0)
        burst = rng.uniform(0.3, 1.5)
        times = np.arange(0.0, min(burst, duration), 1.0 / rate) + rng.uniform(0.0, 0.1)
    return scatter(rng, n, [shot], times, db(rng.uniform(-4, 0, len(times))))


@sound("Finger_snapping", "hits", 0.6)
def finger_snapping(rng, duration):
    """A finger snap: a very short, bright, slightly resonant click, alone or in a steady rhythm."""
    n = n_samples(duration)
    res = rng.uniform(1800, 3500)
    kernels = []
    for _ in range(3):
        burst = noise_burst(rng, 0.08, rng.uniform(1000, 2000), rng.uniform(4000, 8000), rng.uniform(0.015, 0.05),
                            attack=0.0005)
        ring = dsp.resonator(burst, res * rng.uniform(0.95, 1.05), rng.uniform(3.0, 9.0))
        k = dsp.unit_peak(burst) + 0.7 * dsp.unit_peak(ring)
        if rng.random() < 0.5:  # the middle finger hitting the palm
            k += 0.3 * dsp.unit_peak(dsp.lowpass(noise_burst(rng, 0.08, None, 400, 0.03), 300))
        kernels.append(k)
    times = hit_times(rng, duration, (0.3, 0.8), 0.35, jitter=0.04)
    return scatter(rng, n, kernels, times, db(rng.uniform(-4, 0, len(times))))


# ============================================================================================ telephone


DTMF_LOW, DTMF_HIGH = (697.0, 770.0, 852.0, 941.0), (1209.0, 1336.0, 1477.0)


def cadence(duration, on_off, start=0.0):
    """On-intervals (start, stop) of a repeating ring cadence ``on_off`` = (on, off, on, off, ...)."""
    spans, t = [], start
    while t < duration:
        for i in range(0, len(on_off), 2):
            spans.append((t, min(t + on_off[i], duration)))
            t += on_off[i] + on_off[i + 1]
            if t >= duration:
                break
    return [(a, b) for a, b in spans if b > a]


@sound("Telephone", "alarms", 1.6)
def telephone(rng, duration):
    """Telephones: dual-tone ring cadences (US, UK), an electromechanical bell, an electronic ringtone, or
    DTMF key tones; often heard through a narrow telephone band."""
    n = n_samples(duration)
    out = np.zeros(n)
    style = rng.choice(["us", "uk", "bell", "electronic", "dtmf"], p=[0.2, 0.2, 0.25, 0.2, 0.15])
    warp = rng.uniform(0.97, 1.03)
    start = rng.uniform(0.0, min(0.3, 0.3 * duration))
    if style in ("us", "uk"):
        freqs = (440.0, 480.0) if style == "us" else (400.0, 450.0)
        pattern = ((rng.uniform(1.5, 2.2), rng.uniform(2.0, 4.0)) if style == "us"
                   else (0.4, 0.2, 0.4, rng.uniform(1.5, 2.2)))
        tone = sum(dsp.sine(f * warp, n, phase=rng.uniform(0, 6.3)) for f in freqs)
        for a, b in cadence(duration, pattern, start):
            i, j = int(a * SR), int(b * SR)
            out[i:j] = tone[i:j] * dsp.fade(np.ones(j - i), 0.005)
    elif style == "bell":
        f1 = rng.uniform(900, 2400)
        bells = [dsp.modal(rng, n_samples(0.4), f * np.array([1.0, 2.32, 3.81]), [0.35, 0.2, 0.12], [1.0, 0.5, 0.3])
                 for f in (f1, f1 * rng.uniform(1.1, 1.3))]
        striker = rng.uniform(16.0, 25.0)
        for a, b in cadence(duration, (rng.uniform(0.8, 2.0), rng.uniform(1.0, 3.0)), start):
            for i, t in enumerate(np.arange(a, b, 1.0 / striker)):
                place(out, bells[i % 2], int(t * SR), rng.uniform(0.7, 1.0))
    elif style == "electronic":
        if rng.random() < 0.5:  # a two-tone warble
            fa, fb = rng.uniform(700, 1300), rng.uniform(900, 2000)
            rate = rng.uniform(10.0, 25.0)
            freq = np.where(np.sin(dsp.phase_of(rate, n)) > 0, fa, fb)
            tone = np.sign(dsp.sine(freq, n))
            for a, b in cadence(duration, (rng.uniform(0.6, 1.5), rng.uniform(0.5, 2.0)), start):
                i, j = int(a * SR), int(b * SR)
                out[i:j] = tone[i:j]
            out = dsp.lowpass(out, 5000)
        else:  # a melodic ringtone of square-wave beeps
            step = rng.uniform(0.08, 0.2)
            tune = melody(rng, int(rng.integers(4, 10)), 72, 96, 7)
            times = np.arange(start, duration, step)
            for i, t in enumerate(times):
                m = n_samples(step * 0.85)
                beep = np.sign(dsp.sine(float(dsp.midi_to_hz(tune[i % len(tune)])), m)) * dsp.fade(np.ones(m), 0.004)
                place(out, dsp.lowpass(beep, 6000), int(t * SR))
    else:  # DTMF key presses
        t = start
        while t < duration:
            m = n_samples(rng.uniform(0.07, 0.2))
            f_low, f_high = rng.choice(DTMF_LOW), rng.choice(DTMF_HIGH)
            key = (dsp.sine(f_low, m) + dsp.sine(f_high, m)) * dsp.fade(np.ones(m), 0.003)
            place(out, key, int(t * SR))
            t += m / SR + rng.uniform(0.05, 0.35)
    if rng.random() < 0.5:
        out = dsp.filter_band(out, 300.0, 3400.0, order=3)
    return out


# ============================================================================================ noise textures


@sound("Applause", "textures", 2.0)
def applause(rng, duration):
    """An audience clapping: many short, resonant noise bursts at random, dense for a crowd, sparse for a few."""
    n = n_samples(duration)
    people = log_uniform(rng, 3.0, 300.0)
    rate = people * rng.uniform(2.5, 5.0)
    t = dsp.time_axis(n)
    swell = np.minimum(1.0, t / rng.uniform(0.05, 0.6))
    if rng.random() < 0.6:
        swell *= np.clip((duration - t) / rng.uniform(0.3, 1.5), 0.0, 1.0) ** 0.7
    density = swell * (1.0 + 0.3 * dsp.smooth_random(rng, n, 1.5))
    out = np.zeros(n)
    for _ in range(3):  # three kinds of clap (cupped, flat, fingers)
        kernel = noise_burst(rng, 0.05, rng.uniform(500, 1500), rng.uniform(2500, 6000), rng.uniform(0.015, 0.05),
                             attack=0.0008)
        ring = dsp.unit_peak(dsp.resonator(kernel, rng.uniform(900, 2200), 4.0))
        kernel = kernel + 0.8 * ring * np.max(np.abs(kernel))
        out += dsp.convolve(dsp.impulse_train(rng, n, rate / 3.0, envelope=density), kernel)
    if rng.random() < 0.3:  # cheering voices underneath
        crowd = dsp.formant_filter(rng.standard_normal(n), [(rng.uniform(500, 900), 300, 0), (1500, 600, -4)])
        out += 0.3 * dsp.rms(out) * dsp.unit_rms(crowd) * (1 + 0.5 * dsp.smooth_random(rng, n, 3.0)) * swell
    return out


@sound("Fireworks", "textures", 1.8)
def fireworks(rng, duration):
    """Fireworks: whistling launches, booming bursts with long rumbling tails, and crackling stars."""
    n = n_samples(duration)
    out = np.zeros(n)
    distance_cutoff = rng.uniform(1500, 12000)
    for t0 in dsp.poisson_times(rng, duration, rng.uniform(0.4, 2.0), min_gap=0.2):
        kind = rng.choice(["boom", "crackle", "whistle"], p=[0.5, 0.3, 0.2])
        if kind == "whistle":
            m = n_samples(rng.uniform(0.4, 1.5))
            f = np.linspace(rng.uniform(800, 1500), rng.uniform(2000, 4000), m)
            whistle = dsp.sine(f, m) * dsp.adsr(m, 0.05, 0.0, 1.0, 0.1) * 0.4
            place(out, whistle + 0.1 * dsp.band_noise(rng, m, 2000, 8000), int(t0 * SR))
            t0 += m / SR
        if kind in ("boom", "whistle"):
            tail = rng.uniform(0.5, 2.0)
            m = n_samples(tail * 1.1)
            boom = dsp.lowpass(rng.standard_normal(m), rng.uniform(150, 700), order=4)
            boom = dsp.unit_peak(boom) * dsp.decay(m, tail) + 0.8 * noise_burst(rng, m / SR, None, 4000, 0.03)
            place(out, boom, int(t0 * SR), rng.uniform(0.5, 1.0))
        if kind == "crackle" or rng.random() < 0.5:
            span = rng.uniform(0.3, 1.5)
            m = n_samples(span)
            env = dsp.decay(m, span)
            crackle = dsp.highpass(dsp.impulse_train(rng, m, rng.uniform(100, 600), envelope=env, heavy_tail=1.5), 1500)
            place(out, 0.6 * dsp.unit_peak(crackle), int((t0 + rng.uniform(0.05, 0.3)) * SR))
    return dsp.lowpass(out, distance_cutoff)


@sound("Writing", "textures", 1.5)
def writing(rng, duration):
    """A pen or pencil on paper: band-limited scratching noise gated by strokes, with a rough paper grain."""
    n = n_samples(duration)
    low, high = rng.uniform(800, 3000), rng.uniform(5000, 12000)
    scratch = dsp.band_noise(rng, n, low, high)
    grain = 1.0 + 0.8 * np.abs(dsp.smooth_random(rng, n, rng.uniform(60.0, 250.0)))
    strokes = np.zeros(n)
    t = rng.uniform(0.0, 0.1)
    while t < duration:
        m = n_samples(rng.uniform(0.05, 0.4))
        stroke = np.hanning(m) ** 0.5 * rng.uniform(0.4, 1.0)
        place(strokes, stroke, int(t * SR))
        t += m / SR + rng.uniform(0.02, 0.25) * (4.0 if rng.random() < 0.1 else 1.0)
    out = scratch * grain * strokes
    if rng.random() < 0.2:  # a marker's squeak
        out += 0.2 * dsp.sine(rng.uniform(2000, 4000) * (1 + 0.05 * dsp.smooth_random(rng, n, 5.0)), n) * strokes
    taps = dsp.impulse_train(rng, n, rng.uniform(0.0, 2.0))
    return out + dsp.convolve(taps, dsp.modal(rng, n_samples(0.03), [rng.uniform(1500, 3000)], [0.02], [3.0]))


@sound("Tearing", "textures", 0.8)
def tearing(rng, duration):
    """Paper, fabric or tape tearing: a dense stream of micro-cracks whose rate and loudness swell."""
    n = n_samples(duration)
    out = np.zeros(n)
    material = rng.choice(["paper", "fabric", "tape"])
    band = {"paper": (1000, 9000), "fabric": (300, 4000), "tape": (1500, 8000)}[material]
    for start in dsp.poisson_times(rng, duration, rng.uniform(0.3, 1.0), min_gap=0.3, margin=0.15):
        m = n_samples(min(rng.uniform(0.2, 1.5), duration - start + 0.01))
        t = dsp.time_axis(m)
        env = (t / t[-1] if m > 1 else np.ones(m)) ** rng.uniform(0.3, 1.5) + 0.1
        env *= 1.0 + 0.5 * dsp.smooth_random(rng, m, rng.uniform(15.0, 50.0))
        cracks = dsp.impulse_train(rng, m, log_uniform(rng, 800.0, 5000.0), envelope=env, heavy_tail=2.0)
        tear = dsp.filter_band(cracks, *band) + 0.2 * dsp.band_noise(rng, m, *band) * env
        if material == "tape":
            tear = tear + 0.5 * dsp.resonator(tear, rng.uniform(2000, 4000), 8.0)
        place(out, dsp.fade(tear, 0.003), int(start * SR), rng.uniform(0.6, 1.0))
    return out


@sound("Keys_jangling", "textures", 1.1)
def keys_jangling(rng, duration):
    """A bunch of keys shaken: each key rings at its own high inharmonic modes; pings cluster in shakes."""
    n = n_samples(duration)
    keys = []
    for _ in range(int(rng.integers(3, 8))):
        f = rng.uniform(2000, 9000)
        keys.append(dsp.modal(rng, n_samples(0.4), f * np.array([1.0, rng.uniform(1.3, 2.9), rng.uniform(3.0, 5.0)]),
                              rng.uniform(0.05, 0.35, 3), [1.0, 0.6, 0.3]))
    out = np.zeros(n)
    for shake in dsp.poisson_times(rng, duration, rng.uniform(1.0, 4.0), min_gap=0.15):
        span = rng.uniform(0.08, 0.6)
        count = int(rng.integers(6, 30))
        times = shake + np.sort(rng.uniform(0.0, span, count))
        out += scatter(rng, n, keys, times, rng.uniform(0.2, 1.0, count))
        rattle = noise_burst(rng, span, 3000, 10000, span) * 0.15
        place(out, rattle, int(shake * SR))
    return out


@sound("Scissors", "textures", 0.8)
def scissors(rng, duration):
    """Scissors: blades scraping shut (a rising metallic noise with a ringing blade) and a click, repeated."""
    n = n_samples(duration)
    ring_f = rng.uniform(2500, 6500)
    band = (rng.uniform(1500, 3500), rng.uniform(6000, 11000))
    paper = rng.random() < 0.5
    kernels = []
    for _ in range(3):
        m = n_samples(rng.uniform(0.06, 0.22))
        t = dsp.time_axis(m)
        scrape = dsp.band_noise(rng, m, *band) * (t / t[-1]) ** rng.uniform(0.5, 2.0)
        if paper:
            scrape += dsp.filter_band(dsp.impulse_train(rng, m, 2000, heavy_tail=2.0), 1000, 8000) * 0.3
        snip = np.concatenate([scrape, np.zeros(n_samples(0.1))])
        click = dsp.modal(rng, n_samples(0.1), [ring_f, ring_f * 1.7], [0.08, 0.05], [1.0, 0.5])
        place(snip, 1.5 * click, m)
        opening = dsp.band_noise(rng, n_samples(0.08), *band) * np.hanning(n_samples(0.08)) * 0.2
        kernels.append(np.concatenate([opening, np.zeros(n_samples(rng.uniform(0.05, 0.2))), snip]))
    times = hit_times(rng, duration, (0.3, 0.8), 0.3, jitter=0.08)
    return scatter(rng, n, kernels, times, db(rng.uniform(-4, 0, len(times))))


@sound("Shatter", "textures", 0.9)
def shatter(rng, duration):
    """Breaking glass: an impact, a dense burst of high glassy pings, then sparse tinkling debris."""
    n = n_samples(duration)
    out = np.zeros(n)
    pings = [dsp.modal(rng, n_samples(0.3), [f, f * rng.uniform(1.5, 2.7)], [rng.uniform(0.03, 0.25), 0.05], [1.0, 0.4])
             for f in rng.uniform(2000, 12000, 8)]
    for start in dsp.poisson_times(rng, duration, 0.3, min_gap=1.0, margin=0.3)[:2]:
        impact = noise_burst(rng, 0.3, None, None, rng.uniform(0.02, 0.08), attack=0.0005)
        impact += dsp.modal(rng, len(impact), [rng.uniform(80, 200)], [0.1], [0.6])
        place(out, impact, int(start * SR))
        burst = start + rng.exponential(rng.uniform(0.05, 0.3), int(rng.integers(40, 150)))
        out += scatter(rng, n, pings, burst, rng.uniform(0.2, 1.0, len(burst)) * 0.7)
        debris = start + rng.uniform(0.2, rng.uniform(0.5, 2.0), int(rng.integers(5, 40)))
        out += scatter(rng, n, pings, debris, rng.uniform(0.05, 0.4, len(debris)))
        place(out, noise_burst(rng, 0.8, 2000, 12000, rng.uniform(0.2, 0.6)) * 0.3, int(start * SR))
    return out


@sound("Drawer_open_or_close", "textures", 0.8)
def drawer(rng, duration):
    """A drawer sliding on wooden runners (stick-slip chatter) or ball-bearing rails (rumble), ending in a thud."""
    n = n_samples(duration)
    out = np.zeros(n)
    slide_s = min(rng.uniform(0.2, 0.8), 0.8 * duration)
    m = n_samples(slide_s)
    speed = np.sin(np.linspace(0.0, np.pi, m)) ** rng.uniform(0.5, 1.5)
    if rng.random() < 0.5:  # wooden runners: stick-slip impulses through a wooden resonance
        chatter = dsp.impulse_train(rng, m, rng.uniform(60, 300), envelope=speed)
        body = dsp.modal(rng, n_samples(0.05), [rng.uniform(250, 900), rng.uniform(1200, 2500)], [0.03, 0.02],
                         [1.0, 0.5])
        slide = dsp.convolve(chatter, body) + 0.3 * dsp.band_noise(rng, m, 200, 3000) * speed
    else:  # metal rails: a rumbling friction noise, amplitude-modulated by the rolling bearings
        rumble = 1.0 + 0.6 * np.sin(dsp.phase_of(rng.uniform(15, 60), m))
        slide = dsp.band_noise(rng, m, rng.uniform(150, 400), rng.uniform(1500, 4000)) * speed * rumble
    start = rng.uniform(0.0, max(0.0, duration - slide_s - 0.15))
    place(out, dsp.unit_peak(slide) * rng.uniform(0.3, 0.8), int(start * SR))
    thud = dsp.modal(rng, n_samples(0.4), [rng.uniform(70, 200), rng.uniform(250, 500)],
                     [rng.uniform(0.1, 0.3), 0.1], [1.0, 0.5])
    thud[: n_samples(0.005)] += noise_burst(rng, 0.005, 500, 5000, 0.004)
    place(out, thud * rng.uniform(0.5, 1.0), int((start + slide_s) * SR))
    if rng.random() < 0.4:  # the contents rattle
        rattle = [dsp.modal(rng, n_samples(0.1), [rng.uniform(1000, 4000)], [0.05], [1.0]) for _ in range(3)]
        times = start + slide_s + rng.uniform(0.0, 0.15, int(rng.integers(2, 8)))
        out += scatter(rng, n, rattle, times, rng.uniform(0.1, 0.4, len(times)))
    return out


@sound("Computer_keyboard", "textures", 1.3)
def computer_keyboard(rng, duration):
    """Typing: each key press is a plastic click, and its release a softer one; words separated by pauses."""
    n = n_samples(duration)
    clicky = rng.random() < 0.3
    band = (rng.uniform(800, 2000), rng.uniform(4000, 9000))
    kernels = []
    for space_bar in (False, False, False, True):
        press = noise_burst(rng, 0.03, band[0] * (0.6 if space_bar else 1.0), band[1], rng.uniform(0.005, 0.02))
        press += dsp.modal(rng, len(press), [rng.uniform(300, 1200) * (0.7 if space_bar else 1.0)], [0.02], [0.8])
        if clicky:
            press += noise_burst(rng, 0.03, 4000, None, 0.004)
        release = 0.4 * noise_burst(rng, 0.02, band[0], band[1], 0.008)
        gap = n_samples(rng.uniform(0.06, 0.15))
        key = np.zeros(len(press) + gap + len(release))
        key[: len(press)] += press
        key[gap: gap + len(release)] += release
        kernels.append(key * (1.4 if space_bar else 1.0))
    times = []
    t = rng.uniform(0.0, 0.2)
    rate = rng.uniform(4.0, 10.0)
    while t < duration:
        for _ in range(int(rng.integers(2, 9))):
            times.append(t)
            t += rng.exponential(1.0 / rate) + 0.03
        t += rng.uniform(0.1, 0.6)
    times = np.asarray(times)
    return scatter(rng, n, kernels, times, db(rng.uniform(-6, 0, len(times))))


# ============================================================================================ voices, animals


VOWELS = {  # (F1, F2, F3) in Hz
    "a": (780.0, 1250.0, 2600.0), "e": (520.0, 1950.0, 2650.0), "o": (480.0, 900.0, 2500.0),
    "i": (320.0, 2300.0, 3000.0), "u": (350.0, 800.0, 2400.0),
}


def vowel_formants(rng, vowel, shift=1.0, widths=(0.25, 0.25, 0.2), gains=(12.0, 8.0, 4.0)):
    return [(f * shift * rng.uniform(0.92, 1.08), w, g) for f, w, g in zip(VOWELS[vowel], widths, gains)]


@sound("Laughter", "voices", 1.3)
def laughter(rng, duration):
    """Laughter: bouts of "ha-ha-ha": breathy /h/ onsets and short vowels at 4-6 per second, pitch falling."""
    n = n_samples(duration)
    out = np.zeros(n)
    evil = rng.random() < 0.25
    base = rng.uniform(100, 160) if evil else log_uniform(rng, 150, 420)
    rate = rng.uniform(2.5, 3.5) if evil else rng.uniform(3.8, 6.5)
    formants = vowel_formants(rng, rng.choice(["a", "e", "o"], p=[0.6, 0.25, 0.15]), shift=base ** 0.1 / 150 ** 0.1)
    t = rng.uniform(0.0, 0.15)
    while t < duration - 0.1:
        count = int(rng.integers(3, 10))
        bout_n = min(n_samples(count / rate), n - int(t * SR))
        if bout_n < n_samples(0.1):
            break
        tt = dsp.time_axis(bout_n)
        phase = (tt * rate) % 1.0
        f0 = (base * (1.25 - 0.35 * tt / tt[-1]) * (1.0 + 0.08 * (1.0 - phase))
              * (1 + 0.02 * dsp.smooth_random(rng, bout_n, 20.0)))
        voiced_gate = np.clip(np.sin(np.pi * np.clip((phase - 0.25) / 0.6, 0.0, 1.0)) * 1.5, 0.0, 1.0)
        breath_gate = np.exp(-((phase - 0.18) / 0.08) ** 2)
        tone = voice(rng, f0, formants, breathiness=0.3) * voiced_gate
        h = dsp.formant_filter(rng.standard_normal(bout_n), [(f, f * w, g) for f, w, g in formants])
        bout = tone + 0.5 * dsp.unit_rms(h) * breath_gate
        bout *= np.linspace(1.0, rng.uniform(0.4, 1.0), bout_n)
        place(out, bout, int(t * SR), rng.uniform(0.6, 1.0))
        t += bout_n / SR
        inhale = n_samples(rng.uniform(0.2, 0.5))
        place(out, 0.15 * dsp.band_noise(rng, inhale, 1000, 5000) * np.hanning(inhale), int(t * SR))
        t += inhale / SR + rng.uniform(0.0, 0.3)
    return out


@sound("Cough", "voices", 0.8)
def cough(rng, duration):
    """Coughs: an explosive broadband burst that decays through throat resonances, with a little voicing."""
    n = n_samples(duration)
    out = np.zeros(n)
    f0 = log_uniform(rng, 110, 350)
    formants = vowel_formants(rng, rng.choice(["a", "o", "e"]), shift=rng.uniform(0.9, 1.2))
    for start in dsp.poisson_times(rng, duration, rng.uniform(1.0, 3.0), min_gap=0.3, margin=0.15)[:4]:
        m = n_samples(rng.uniform(0.15, 0.45))
        env = dsp.decay(m, rng.uniform(0.15, 0.4)) * np.minimum(1.0, dsp.time_axis(m) / 0.004)
        noise = dsp.unit_rms(dsp.formant_filter(rng.standard_normal(m), [(f, f * w, g) for f, w, g in formants]))
        burst = dsp.unit_rms(dsp.lowpass(rng.standard_normal(m), 6000)) * dsp.decay(m, 0.05)
        voiced = voice(rng, f0 * np.linspace(1.1, 0.85, m) * (1 + 0.03 * dsp.smooth_random(rng, m, 30.0)),
                       formants, breathiness=0.5) * rng.uniform(0.0, 0.8)
        place(out, env * (noise + voiced) + 1.5 * burst, int(start * SR), rng.uniform(0.6, 1.0))
    return out


@sound("Burping_or_eructation", "voices", 0.8)
def burping(rng, duration):
    """A burp: a very low, irregular (rough, pulsy) voice through back-vowel resonances."""
    n = n_samples(duration)
    out = np.zeros(n)
    for start in dsp.poisson_times(rng, duration, 0.4, min_gap=0.8, margin=0.25)[:2]:
        m = n_samples(min(rng.uniform(0.3, 1.5), duration - start + 0.05))
        f0 = rng.uniform(55, 150) * (1.0 + rng.uniform(0.05, 0.15) * dsp.smooth_random(rng, m, rng.uniform(15, 40)))
        f0 *= np.linspace(rng.uniform(1.0, 1.3), rng.uniform(0.7, 1.0), m)
        formants = vowel_formants(rng, rng.choice(["o", "u", "a"], p=[0.5, 0.3, 0.2]), shift=rng.uniform(0.8, 1.1))
        tone = voice(rng, f0, formants, breathiness=rng.uniform(0.1, 0.5), source_slope_db=-9.0)
        tone *= 0.6 + 0.4 * dsp.smooth_random(rng, m, rng.uniform(15.0, 40.0))  # pulsy, irregular
        place(out, tone * dsp.adsr(m, rng.uniform(0.02, 0.08), 0.1, 0.8, rng.uniform(0.05, 0.3)), int(start * SR))
    return out


@sound("Fart", "voices", 0.7)
def fart(rng, duration):
    """A fart: a low buzzy flutter with wildly varying pitch, sometimes sputtering, muffled."""
    n = n_samples(duration)
    out = np.zeros(n)
    for start in dsp.poisson_times(rng, duration, 0.6, min_gap=0.5, margin=0.15)[:3]:
        m = n_samples(min(rng.uniform(0.2, 2.0), duration - start + 0.05))
        f0 = log_uniform(rng, 50, 220) * (1.0 + rng.uniform(0.1, 0.3) * dsp.smooth_random(rng, m, rng.uniform(8, 30)))
        tone = voice(rng, f0, [(rng.uniform(150, 400), 0.6, 10.0), (rng.uniform(600, 1200), 0.5, 3.0)],
                     breathiness=rng.uniform(0.1, 0.6), source_slope_db=-6.0)
        tone = dsp.lowpass(tone, rng.uniform(600, 2000))
        if rng.random() < 0.4:  # sputtering
            gate = dsp.smooth_random(rng, m, rng.uniform(10, 40)) > rng.uniform(-0.5, 0.2)
            tone *= dsp.lowpass(gate.astype(float), 200)
        place(out, tone * dsp.adsr(m, rng.uniform(0.01, 0.05), 0.05, 0.8, rng.uniform(0.03, 0.2)), int(start * SR))
    return out


@sound("Bark", "animals", 0.9)
def bark(rng, duration):
    """Dog barks: short, harsh voiced bursts (pitch rising then falling, with a subharmonic), often repeated."""
    n = n_samples(duration)
    out = np.zeros(n)
    size = rng.random()  # small dogs bark high, big dogs low
    base = 800.0 * (1.0 - size) + 180.0 * size
    formants = [(rng.uniform(500, 1000), 0.4, 10.0), (rng.uniform(1200, 2200), 0.35, 7.0),
                (rng.uniform(2500, 3500), 0.3, 3.0)]
    times = dsp.poisson_times(rng, duration, rng.uniform(1.0, 4.0), min_gap=0.22, margin=0.08)
    for start in times[:10]:
        m = n_samples(rng.uniform(0.08, 0.28))
        t = np.linspace(0.0, 1.0, m)
        f0 = (base * rng.uniform(0.85, 1.15) * (1.0 + 0.35 * np.sin(np.pi * t ** 0.7))
              * (1 + 0.04 * dsp.smooth_random(rng, m, 40.0)))
        tone = voice(rng, f0, formants, breathiness=rng.uniform(0.2, 0.7), source_slope_db=-8.0)
        tone += 0.4 * voice(rng, 0.5 * f0, formants, breathiness=0.0)  # harsh: a subharmonic
        env = dsp.decay(m, m / SR * 1.5) * np.minimum(1.0, dsp.time_axis(m) / 0.008)
        place(out, tone * env, int(start * SR), rng.uniform(0.6, 1.0))
    return out


@sound("Meow", "animals", 0.9)
def meow(rng, duration):
    """A cat's meow: the pitch rises and falls while the mouth opens and closes ("mee-ow": /i/ -> /a/ -> /u/)."""
    n = n_samples(duration)
    out = np.zeros(n)
    kitten = rng.random() < 0.3
    for start in dsp.poisson_times(rng, duration, 0.5, min_gap=0.9, margin=0.3)[:3]:
        m = n_samples(min(rng.uniform(0.3, 0.6) if kitten else rng.uniform(0.4, 1.3), duration - start + 0.05))
        t = np.linspace(0.0, 1.0, m)
        peak_at = rng.uniform(0.25, 0.55)
        lo, hi = ((rng.uniform(500, 800), rng.uniform(900, 1400)) if kitten
                  else (rng.uniform(300, 600), rng.uniform(600, 1100)))
        shape = np.exp(-0.5 * ((t - peak_at) / rng.uniform(0.2, 0.35)) ** 2)
        f0 = (lo + (hi - lo) * shape) * (1 + 0.01 * dsp.smooth_random(rng, m, 10.0))
        frames = m // 512 + 2
        ft = np.linspace(0.0, 1.0, frames)
        opening = np.exp(-0.5 * ((ft - peak_at) / 0.25) ** 2)
        closing = np.clip((ft - peak_at) / (1.0 - peak_at), 0.0, 1.0)
        f1 = 320.0 + 600.0 * opening - 100.0 * closing
        f2 = 2300.0 - 700.0 * np.clip(ft / peak_at, 0.0, 1.0) - 700.0 * closing
        formants = [(f1, 0.3, 12.0), (f2, 0.25, 9.0), (rng.uniform(3000, 4000), 0.2, 4.0)]
        tone = voice(rng, f0, formants, breathiness=rng.uniform(0.05, 0.4), source_slope_db=-8.0)
        place(out, tone * dsp.adsr(m, 0.04, 0.0, 1.0, 0.12), int(start * SR), rng.uniform(0.7, 1.0))
    return out


@sound("Squeak", "textures", 0.6)
def squeak(rng, duration):
    """Squeaks: stick-slip friction tones (a door hinge, a shoe, a rubber toy) with fast, irregular pitch."""
    n = n_samples(duration)
    out = np.zeros(n)
    kind = rng.choice(["door", "shoe", "toy"])
    base = {"door": (300, 1500), "shoe": (1000, 4000), "toy": (800, 2500)}[kind]
    f_base = log_uniform(rng, *base)
    for start in dsp.poisson_times(rng, duration, rng.uniform(0.8, 3.0), min_gap=0.12, margin=0.05)[:6]:
        length = {"door": (0.2, 1.0), "shoe": (0.03, 0.15), "toy": (0.1, 0.4)}[kind]
        m = n_samples(min(rng.uniform(*length), duration - start + 0.02))
        t = np.linspace(0.0, 1.0, m)
        glide = 1.0 + rng.uniform(-0.4, 0.4) * t
        wobble = 1.0 + rng.uniform(0.03, 0.2) * dsp.smooth_random(rng, m, rng.uniform(5.0, 25.0))
        f = f_base * rng.uniform(0.9, 1.1) * glide * wobble
        amps = harmonic_amps(rng, float(np.max(f)), tilt=-6.0, spread_db=4.0, limit=8)
        tone = dsp.harmonic_tone(rng, f, amps, m)
        if kind == "door":  # creaking: the tone comes in tiny stick-slip pulses
            tone *= 0.5 + 0.5 * np.sign(np.sin(dsp.phase_of(rng.uniform(20, 80), m)))
        tone = dsp.unit_rms(tone) + 0.1 * dsp.band_noise(rng, m, 1000, 8000)
        place(out, tone * dsp.adsr(m, 0.01, 0.0, 1.0, 0.02), int(start * SR), rng.uniform(0.6, 1.0))
    return out


# ============================================================================================ machines


@sound("Bus", "machines", 2.5)
def bus(rng, duration):
    """A bus: a diesel engine's firing harmonics (and half-orders), speed drifting or ramping, road noise,
    and sometimes the hiss of the air brakes or the indicator's tick."""
    n = n_samples(duration)
    fire = rng.uniform(25, 70)
    drift = rng.uniform(0.05, 0.25) * dsp.smooth_random(rng, n, rng.uniform(0.2, 0.8))
    if rng.random() < 0.3:
        drift = drift + np.linspace(0.0, rng.uniform(-0.4, 0.6), n)
    f = 0.5 * fire * (1.0 + drift)  # the half order: one cylinder's cycle
    k = np.arange(1, harmonic_count(0.5 * fire * 1.7, 40) + 1)
    amps = dsp.spectral_envelope(k * 0.5 * fire, [(rng.uniform(80, 250), 1.0, 8.0), (rng.uniform(400, 900), 0.7, 4.0)],
                                 tilt=-4.0) * np.where(k % 2 == 0, 1.0, db(rng.uniform(-14, -4)))
    engine = dsp.unit_rms(dsp.harmonic_tone(rng, f, amps * db(rng.normal(0, 3, len(k))), n))
    road = dsp.lowpass(dsp.coloured_noise(rng, n, -6.0), rng.uniform(300, 1500))
    out = engine + db(rng.uniform(-12, 0)) * dsp.unit_rms(road)
    out *= 1.0 + 0.2 * dsp.smooth_random(rng, n, 0.5)
    if rng.random() < 0.3:  # air brakes
        m = n_samples(rng.uniform(0.3, 1.0))
        place(out, 1.2 * dsp.band_noise(rng, m, 2000, 10000) * dsp.adsr(m, 0.01, 0.1, 0.7, 0.3),
              int(rng.uniform(0, duration) * SR))
    if rng.random() < 0.15:  # indicator ticking
        tick = dsp.modal(rng, n_samples(0.03), [2500.0, 4200.0], [0.02, 0.015], [1.0, 0.5]) * 0.6
        out += scatter(rng, n, [tick], np.arange(rng.uniform(0, 0.5), duration, rng.uniform(0.35, 0.5)))
    if rng.random() < 0.25:  # passing by: loudness rises and falls
        closest = rng.uniform(0.3, 0.7) * duration
        out *= 0.3 + 0.7 * np.exp(-0.5 * ((dsp.time_axis(n) - closest) / (0.25 * duration)) ** 2)
    return out


@sound("Microwave_oven", "machines", 2.0)
def microwave_oven(rng, duration):
    """A microwave oven: transformer buzz at twice the mains frequency, fan noise and blade tone, the
    turntable; and often the beeps and the door latch that make it recognisable."""
    n = n_samples(duration)
    out = np.zeros(n)
    running = rng.random() < 0.75
    beeps = (not running) or rng.random() < 0.6
    if running:
        mains = rng.choice([50.0, 60.0])
        k = np.arange(1, 40)
        amps = (dsp.spectral_envelope(k * 2 * mains, [(rng.uniform(300, 900), 0.8, 8.0)], tilt=-5.0)
                * db(rng.normal(0, 3, 39)))
        buzz = dsp.unit_rms(dsp.harmonic_tone(rng, 2 * mains, amps, n))
        fan = dsp.band_noise(rng, n, rng.uniform(100, 300), rng.uniform(1500, 4000))
        blade = dsp.sine(rng.uniform(80, 250) * (1 + 0.01 * dsp.smooth_random(rng, n, 1.0)), n)
        out += db(rng.uniform(-10, 0)) * buzz + fan * db(rng.uniform(-10, -2)) + 0.3 * blade
        out *= dsp.adsr(n, rng.uniform(0.01, 0.3), 0.0, 1.0, rng.uniform(0.01, 0.3))
    if beeps:
        f = rng.uniform(1800, 3500)
        count = int(rng.integers(1, 6))
        length = rng.uniform(0.1, 0.6)
        gap = rng.uniform(0.1, 0.4)
        t0 = rng.uniform(0.0, max(0.0, duration - count * (length + gap)))
        level = 3.0 * (dsp.rms(out) if running else 0.3) + 0.1
        for i in range(count):
            m = n_samples(length)
            beep = (dsp.sine(f, m) + 0.3 * dsp.sine(3 * f, m)) * dsp.fade(np.ones(m), 0.005)
            place(out, level * beep, int((t0 + i * (length + gap)) * SR))
    if rng.random() < 0.3:  # door latch
        latch = dsp.modal(rng, n_samples(0.15), [rng.uniform(1000, 3000), rng.uniform(120, 250)], [0.05, 0.1],
                          [0.6, 1.0])
        place(out, latch * (dsp.rms(out) * 4 + 0.2), int(rng.uniform(0.0, duration * 0.9) * SR))
    return out


missing = set(LABELS) - set(SOUND_MODELS)
assert not missing, f"no sound model for {sorted(missing)}"
