/*
 * dsp.js - audiotag's features and augmentations in plain JavaScript (ES2017, no dependencies, no network).
 *
 * Everything here is a pure function on arrays, exported on the global object `AudiotagDSP`, so the book's
 * explorers (explorers.js) and the tests (tests/test_explorers_browser.py) call the same code. The numerics follow
 * audiotag/features.py (i.e. librosa's conventions), in float64:
 *
 *   frames    centred: frame t is centred on sample t * hop, the signal zero-padded by n_fft / 2 on both sides
 *             (librosa >= 0.10, pad_mode "constant"); N samples give 1 + floor(N / hop) frames.
 *   window    periodic Hamming, 0.54 - 0.46 cos(2 pi i / n) (torch.hamming_window(n, periodic=True)), as long
 *             as the FFT.
 *   power     |STFT|^2 from a radix-2 real FFT (any power-of-two size).
 *   mel       librosa.filters.mel(htk=False, norm="slaney"): Slaney's mel scale, triangles linear in Hz,
 *             area-normalised.
 *   dB        power_to_db: 10 log10(max(amin, S)), floored top_db below the spectrogram's own peak (each channel
 *             of the multi-resolution feature against its own peak).
 *   MFCC      orthonormal DCT-II of the dB log-mel, first n_mfcc rows.
 *
 * A feature is {kind, channels, rows, frames, data}: `data` is a Float64Array laid out [channel][row][frame]
 * (row 0 = lowest frequency), the layout of FeatureExtractor's (C, F, T) output.
 * Feature settings are objects with FeatureConfig's field names (kind, sample_rate, n_fft, hop_length, ...).
 */
(function (root) {
  'use strict';

  /** power_to_db's default floor on powers (librosa's amin): -100 dB. */
  const AMIN = 1e-10;
  /** Below this peak a waveform counts as silent and is not normalised (features.SILENCE_EPS). */
  const SILENCE_EPS = 1e-8;
  /** Smallest standard deviation used by standardize (features.STD_FLOOR). */
  const STD_FLOOR = 1e-3;

  // ------------------------------------------------------------------------------------------------ small helpers
  function isPowerOfTwo(n) {
    return Number.isInteger(n) && n >= 1 && (n & (n - 1)) === 0;
  }

  function requirePowerOfTwo(n, what) {
    if (!isPowerOfTwo(n)) throw new Error(`${what} must be a power of two, got ${n}`);
  }

  /** A tiny memo for the constant tables (windows, filterbanks, DCT matrices, FFT twiddles). */
  function memo(fn, size = 24) {
    const cache = new Map();
    return function (...args) {
      const key = args.join('|');
      if (cache.has(key)) return cache.get(key);
      const value = fn(...args);
      if (cache.size >= size) cache.delete(cache.keys().next().value);
      cache.set(key, value);
      return value;
    };
  }

  // ------------------------------------------------------------------------------------------------------ window
  /** The periodic Hamming window of n samples (scipy.signal.get_window("hamming", n), fftbins=True). */
  const hammingWindow = memo(function (n) {
    const w = new Float64Array(n);
    for (let i = 0; i < n; i++) w[i] = 0.54 - 0.46 * Math.cos((2 * Math.PI * i) / n);
    return w;
  });

  // --------------------------------------------------------------------------------------------------------- FFT
  /** Bit-reversal permutation and twiddle factors exp(-2 pi i k / n), k < n / 2, of an n-point FFT. */
  const fftTables = memo(function (n) {
    const bits = Math.round(Math.log2(n));
    const rev = new Uint32Array(n);
    for (let i = 0; i < n; i++) {
      let r = 0;
      for (let b = 0, x = i; b < bits; b++, x >>= 1) r = (r << 1) | (x & 1);
      rev[i] = r;
    }
    const half = n >> 1;
    const cos = new Float64Array(half);
    const sin = new Float64Array(half);
    for (let k = 0; k < half; k++) {
      cos[k] = Math.cos((2 * Math.PI * k) / n);
      sin[k] = -Math.sin((2 * Math.PI * k) / n);
    }
    return { rev, cos, sin };
  });

  /** In-place forward complex FFT of (re, im), iterative radix-2 (Cooley-Tukey, decimation in time). */
  function fft(re, im) {
    const n = re.length;
    requirePowerOfTwo(n, 'FFT size');
    const { rev, cos, sin } = fftTables(n);
    for (let i = 0; i < n; i++) {
      const j = rev[i];
      if (j > i) {
        let t = re[i]; re[i] = re[j]; re[j] = t;
        t = im[i]; im[i] = im[j]; im[j] = t;
      }
    }
    for (let size = 2; size <= n; size <<= 1) {
      const half = size >> 1;
      const step = n / size;
      for (let start = 0; start < n; start += size) {
        for (let k = 0; k < half; k++) {
          const wr = cos[k * step], wi = sin[k * step];
          const a = start + k, b = a + half;
          const tr = re[b] * wr - im[b] * wi;
          const ti = re[b] * wi + im[b] * wr;
          re[b] = re[a] - tr; im[b] = im[a] - ti;
          re[a] += tr; im[a] += ti;
        }
      }
    }
  }

  /** Twiddles exp(-2 pi i k / n) for k = 0 .. n / 2, used to untangle a real FFT from a half-size complex one. */
  const rfftTwiddles = memo(function (n) {
    const m = n >> 1;
    const cos = new Float64Array(m + 1);
    const sin = new Float64Array(m + 1);
    for (let k = 0; k <= m; k++) {
      cos[k] = Math.cos((2 * Math.PI * k) / n);
      sin[k] = -Math.sin((2 * Math.PI * k) / n);
    }
    return { cos, sin };
  });

  /**
   * Real FFT of x (length n, a power of two >= 2): bins 0 .. n / 2 into outRe, outIm (numpy.fft.rfft).
   * The even and odd samples are packed as one complex signal z = x[2j] + i x[2j+1] of n / 2 points; after its FFT,
   * X[k] = E[k] + exp(-2 pi i k / n) O[k] with E[k] = (Z[k] + conj Z[m-k]) / 2 and O[k] = (Z[k] - conj Z[m-k]) / 2i.
   */
  function rfft(x, outRe, outIm, work) {
    const n = x.length;
    requirePowerOfTwo(n, 'FFT size');
    if (n < 2) throw new Error('rfft needs at least 2 samples');
    const m = n >> 1;
    const zr = work ? work.re : new Float64Array(m);
    const zi = work ? work.im : new Float64Array(m);
    for (let j = 0; j < m; j++) { zr[j] = x[2 * j]; zi[j] = x[2 * j + 1]; }
    fft(zr, zi);
    const { cos, sin } = rfftTwiddles(n);
    outRe = outRe || new Float64Array(m + 1);
    outIm = outIm || new Float64Array(m + 1);
    for (let k = 0; k <= m; k++) {
      const a = k % m, b = (m - k) % m;
      const ar = zr[a], ai = zi[a], br = zr[b], bi = -zi[b];          // Z[k] and conj(Z[m - k])
      const er = 0.5 * (ar + br), ei = 0.5 * (ai + bi);                 // even part E[k]
      const or = 0.5 * (ai - bi), oi = -0.5 * (ar - br);                // odd part O[k] = (Z[k] - conj Z[m-k]) / 2i
      outRe[k] = er + cos[k] * or - sin[k] * oi;
      outIm[k] = ei + cos[k] * oi + sin[k] * or;
    }
    return { re: outRe, im: outIm };
  }

  // -------------------------------------------------------------------------------------------------------- STFT
  /** Frames of a centred STFT of n samples: 1 + floor(n / hop) (features.n_frames). */
  function nFrames(nSamples, hopLength) {
    return 1 + Math.floor(nSamples / hopLength);
  }

  /**
   * Power spectrogram |STFT|^2 of `wave` with centred, zero-padded frames and a periodic Hamming window of n_fft
   * samples (features.spectrogram with center=True). Returns {rows: 1 + n_fft / 2, frames, data} ([bin][frame]).
   */
  function stftPower(wave, nFft, hopLength) {
    requirePowerOfTwo(nFft, 'n_fft');
    if (!(hopLength >= 1)) throw new Error(`hop_length must be >= 1, got ${hopLength}`);
    const window = hammingWindow(nFft);
    const n = wave.length;
    const frames = nFrames(n, hopLength);
    const bins = nFft / 2 + 1;
    const data = new Float64Array(bins * frames);
    const frame = new Float64Array(nFft);
    const re = new Float64Array(bins), im = new Float64Array(bins);
    const work = { re: new Float64Array(nFft / 2), im: new Float64Array(nFft / 2) };
    const pad = nFft >> 1;
    for (let t = 0; t < frames; t++) {
      const start = t * hopLength - pad;
      for (let i = 0; i < nFft; i++) {
        const s = start + i;
        frame[i] = s >= 0 && s < n ? wave[s] * window[i] : 0;
      }
      rfft(frame, re, im, work);
      for (let k = 0; k < bins; k++) data[k * frames + t] = re[k] * re[k] + im[k] * im[k];
    }
    return { rows: bins, frames, data };
  }

  // --------------------------------------------------------------------------------------------------------- mel
  // Slaney's mel scale (librosa.hz_to_mel / mel_to_hz with htk=False): linear below 1 kHz, logarithmic above.
  const F_SP = 200.0 / 3;
  const MIN_LOG_HZ = 1000.0;
  const MIN_LOG_MEL = MIN_LOG_HZ / F_SP;
  const LOGSTEP = Math.log(6.4) / 27.0;

  function hzToMel(f) {
    return f >= MIN_LOG_HZ ? MIN_LOG_MEL + Math.log(f / MIN_LOG_HZ) / LOGSTEP : f / F_SP;
  }

  function melToHz(m) {
    return m >= MIN_LOG_MEL ? MIN_LOG_HZ * Math.exp(LOGSTEP * (m - MIN_LOG_MEL)) : F_SP * m;
  }

  /** n frequencies (Hz) equally spaced in mel from fmin to fmax (librosa.mel_frequencies, np.linspace). */
  function melFrequencies(n, fmin, fmax) {
    const lo = hzToMel(fmin), hi = hzToMel(fmax);
    const step = (hi - lo) / (n - 1);
    const out = new Float64Array(n);
    for (let i = 0; i < n; i++) out[i] = melToHz(i === n - 1 ? hi : lo + i * step);
    return out;
  }

  /**
   * librosa.filters.mel(sr, n_fft, n_mels, fmin, fmax) (Slaney scale and norm), stored sparsely: band m weights
   * bins spans[m][0] .. spans[m][1] - 1 by weights[m]. Returns {rows: n_mels, cols: bins, spans, weights}.
   */
  const melFilterbank = memo(function (sampleRate, nFft, nMels, fmin, fmax) {
    fmin = fmin == null || fmin === '' ? 0 : Number(fmin);
    fmax = fmax == null || fmax === '' ? sampleRate / 2 : Number(fmax);
    const bins = Math.floor(nFft / 2) + 1;
    const binHz = 1.0 / (nFft * (1.0 / sampleRate));                  // np.fft.rfftfreq's spacing
    const melF = melFrequencies(nMels + 2, fmin, fmax);
    const spans = [], weights = [];
    const row = new Float64Array(bins);
    for (let m = 0; m < nMels; m++) {
      const lower = melF[m], centre = melF[m + 1], upper = melF[m + 2];
      const enorm = 2.0 / (upper - lower);                              // Slaney area normalisation
      let first = -1, last = -1;
      for (let k = 0; k < bins; k++) {
        const f = k * binHz;
        const rising = -(lower - f) / (centre - lower);
        const falling = (upper - f) / (upper - centre);
        row[k] = Math.max(0, Math.min(rising, falling)) * enorm;
        if (row[k] > 0) { if (first < 0) first = k; last = k; }
      }
      const span = first < 0 ? [0, 0] : [first, last + 1];
      spans.push(span);
      weights.push(row.slice(span[0], span[1]));
    }
    return { rows: nMels, cols: bins, spans, weights };
  }, 8);

  /** The same filterbank as a dense (n_mels, bins) matrix {rows, cols, data} (for inspection and tests). */
  function melFilterbankDense(sampleRate, nFft, nMels, fmin, fmax) {
    const fb = melFilterbank(sampleRate, nFft, nMels, fmin, fmax);
    const data = new Float64Array(fb.rows * fb.cols);
    fb.spans.forEach(([first], m) => data.set(fb.weights[m], m * fb.cols + first));
    return { rows: fb.rows, cols: fb.cols, data };
  }

  /** The mel power spectrogram: filterbank (n_mels, bins) x power (bins, frames), over each band's span only. */
  function applyFilterbank(fb, power) {
    const { frames } = power;
    const out = new Float64Array(fb.rows * frames);
    for (let m = 0; m < fb.rows; m++) {
      const [first, end] = fb.spans[m];
      const w = fb.weights[m];
      const row = m * frames;
      for (let k = first; k < end; k++) {
        const weight = w[k - first];
        const src = k * frames;
        for (let t = 0; t < frames; t++) out[row + t] += weight * power.data[src + t];
      }
    }
    return { rows: fb.rows, frames, data: out };
  }

  // ---------------------------------------------------------------------------------------------------------- dB
  /** power_to_db(S, ref=1, amin, top_db): 10 log10(max(amin, S)), floored top_db below the peak (null: no floor). */
  function powerToDb(power, amin = AMIN, topDb = 80) {
    const src = power.data, n = src.length;
    const out = new Float64Array(n);
    let peak = -Infinity;
    for (let i = 0; i < n; i++) {
      const db = 10 * Math.log10(Math.max(amin, src[i]));
      out[i] = db;
      if (db > peak) peak = db;
    }
    if (topDb != null) {
      if (topDb < 0) throw new Error(`top_db must be non-negative, got ${topDb}`);
      const floor = peak - topDb;
      for (let i = 0; i < n; i++) if (out[i] < floor) out[i] = floor;
    }
    return { rows: power.rows, frames: power.frames, data: out };
  }

  // --------------------------------------------------------------------------------------------------------- DCT
  /** The orthonormal DCT-II as an (n_mfcc, n_mels) matrix (scipy.fft.dct(eye, type=2, norm="ortho")[:n_mfcc]). */
  const dctMatrix = memo(function (nMfcc, nMels) {
    if (!(nMfcc >= 1 && nMfcc <= nMels)) throw new Error(`n_mfcc must be in [1, n_mels=${nMels}], got ${nMfcc}`);
    const data = new Float64Array(nMfcc * nMels);
    for (let k = 0; k < nMfcc; k++) {
      const scale = Math.sqrt((k === 0 ? 1 : 2) / nMels);
      for (let j = 0; j < nMels; j++) data[k * nMels + j] = scale * Math.cos((Math.PI * k * (2 * j + 1)) / (2 * nMels));
    }
    return { rows: nMfcc, cols: nMels, data };
  }, 8);

  /** Dense matrix (rows, cols) x spectrogram (cols, frames). */
  function matmul(mat, spec) {
    const { frames } = spec;
    const out = new Float64Array(mat.rows * frames);
    for (let r = 0; r < mat.rows; r++) {
      for (let c = 0; c < mat.cols; c++) {
        const w = mat.data[r * mat.cols + c];
        if (w === 0) continue;
        const src = c * frames, dst = r * frames;
        for (let t = 0; t < frames; t++) out[dst + t] += w * spec.data[src + t];
      }
    }
    return { rows: mat.rows, frames, data: out };
  }

  // ----------------------------------------------------------------------------------------------- waveforms
  /** Per-clip scaling (features.normalize_waves): "peak" to max |x| = 1, "rms" to RMS 1, "none"; silence kept. */
  function normalizeWave(wave, mode) {
    if (mode === 'none' || mode == null) return wave;
    let scale = 0;
    if (mode === 'peak') {
      for (let i = 0; i < wave.length; i++) scale = Math.max(scale, Math.abs(wave[i]));
    } else if (mode === 'rms') {
      let sum = 0;
      for (let i = 0; i < wave.length; i++) sum += wave[i] * wave[i];
      scale = wave.length ? Math.sqrt(sum / wave.length) : 0;
    } else {
      throw new Error(`unknown normalisation ${mode}; use "peak", "rms" or "none"`);
    }
    const out = Float64Array.from(wave);
    if (scale < SILENCE_EPS) return out;
    for (let i = 0; i < out.length; i++) out[i] /= scale;
    return out;
  }

  /** A clip at least n samples long, tiled when shorter (audio.fit_length, policy "repeat"). */
  function fitLength(wave, n) {
    if (wave.length >= n) return wave;
    const out = new Float64Array(n);
    if (wave.length === 0) return out;
    for (let i = 0; i < n; i++) out[i] = wave[i % wave.length];
    return out;
  }

  /** The middle n samples, after tiling a shorter clip (audio.center_crop). */
  function centerCrop(wave, n) {
    const fitted = fitLength(wave, n);
    const offset = Math.floor((fitted.length - n) / 2);
    return Float64Array.from(fitted.subarray ? fitted.subarray(offset, offset + n) : fitted.slice(offset, offset + n));
  }

  // ------------------------------------------------------------------------------------------------- features
  const REQUIRED = ['kind', 'sample_rate', 'n_fft', 'hop_length', 'n_mels', 'n_mfcc', 'top_db', 'spectrogram_n_fft',
    'multires_windows', 'normalize'];
  const KINDS = ['logmel', 'mfcc', 'multires', 'spectrogram'];

  function checkConfig(cfg) {
    const missing = REQUIRED.filter((key) => !(key in cfg));
    if (missing.length) throw new Error(`feature settings lack ${missing.join(', ')}`);
    if (!KINDS.includes(cfg.kind)) throw new Error(`unknown feature kind ${cfg.kind}; use one of ${KINDS.join(', ')}`);
  }

  /** Bytes of STFTs one cache keeps (the oldest go first; the newest is always kept). */
  const CACHE_BYTES = 96 * 2 ** 20;

  /** STFT power, memoised in an optional caller-owned Map (one per clip) so that a new n_mels or top_db is cheap. */
  function cachedPower(wave, nFft, hop, cache, tag) {
    const key = `${tag}|${nFft}|${hop}`;
    if (cache && cache.has(key)) return cache.get(key);
    const power = stftPower(wave, nFft, hop);
    if (cache) {
      cache.set(key, power);
      let bytes = 0;
      for (const value of cache.values()) bytes += value.data.byteLength;
      for (const [k, value] of cache) {
        if (bytes <= CACHE_BYTES || k === key) break;
        cache.delete(k);
        bytes -= value.data.byteLength;
      }
    }
    return power;
  }

  function logMelOf(wave, cfg, nFft, cache) {
    const power = cachedPower(wave, nFft, cfg.hop_length, cache, cfg.normalize);
    const fb = melFilterbank(cfg.sample_rate, nFft, cfg.n_mels, cfg.fmin, cfg.fmax);
    return powerToDb(applyFilterbank(fb, power), cfg.amin == null ? AMIN : cfg.amin, cfg.top_db);
  }

  /**
   * The 2D feature of one clip, as FeatureExtractor(cfg).spectral(normalize_waves(wave)) computes it: no
   * standardisation, no resizing. `cfg` uses FeatureConfig's field names (all of REQUIRED; fmin, fmax and amin
   * default to 0, Nyquist and 1e-10). `cache` (optional Map) keeps this clip's STFTs between calls.
   */
  function computeFeature(wave, cfg, cache) {
    checkConfig(cfg);
    const x = normalizeWave(wave, cfg.normalize);
    const amin = cfg.amin == null ? AMIN : cfg.amin;
    let parts;
    if (cfg.kind === 'spectrogram') {
      const nFft = cfg.spectrogram_n_fft == null ? cfg.n_fft : cfg.spectrogram_n_fft;
      parts = [powerToDb(cachedPower(x, nFft, cfg.hop_length, cache, cfg.normalize), amin, cfg.top_db)];
    } else if (cfg.kind === 'multires') {
      parts = cfg.multires_windows.map((w) => logMelOf(x, cfg, w, cache));
    } else {
      const logmel = logMelOf(x, cfg, cfg.n_fft, cache);
      parts = [cfg.kind === 'mfcc' ? matmul(dctMatrix(cfg.n_mfcc, cfg.n_mels), logmel) : logmel];
    }
    const { rows, frames } = parts[0];
    const data = new Float64Array(parts.length * rows * frames);
    parts.forEach((p, c) => data.set(p.data, c * rows * frames));
    return { kind: cfg.kind, channels: parts.length, rows, frames, data };
  }

  /** Zero mean, unit variance per example ("clip", features.standardize) or unchanged ("none"). */
  function standardize(feature, mode) {
    if (mode === 'none') return feature;
    if (mode !== 'clip') throw new Error(`unknown standardisation ${mode}; use "clip" or "none"`);
    const src = feature.data, n = src.length;
    let mean = 0;
    for (let i = 0; i < n; i++) mean += src[i];
    mean /= n;
    let variance = 0;
    for (let i = 0; i < n; i++) variance += (src[i] - mean) * (src[i] - mean);
    const std = Math.max(Math.sqrt(variance / n), STD_FLOOR);
    const data = new Float64Array(n);
    for (let i = 0; i < n; i++) data[i] = (src[i] - mean) / std;
    return Object.assign({}, feature, { data });
  }

  /** The (min, max) of a feature's values. */
  function range(feature) {
    let lo = Infinity, hi = -Infinity;
    for (const v of feature.data) { if (v < lo) lo = v; if (v > hi) hi = v; }
    return [lo, hi];
  }

  // ------------------------------------------------------------------------------------------------ augmentation
  /** A seeded generator of uniform numbers in [0, 1) (mulberry32): the same seed gives the same draws. */
  function mulberry32(seed) {
    let a = (seed >>> 0) || 0;
    return function () {
      a = (a + 0x6D2B79F5) >>> 0;
      let t = a;
      t = Math.imul(t ^ (t >>> 15), t | 1);
      t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
      return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
    };
  }

  /** Mixup of two equal-length arrays: lam * a + (1 - lam) * b (augment.mix_pair). */
  function mix(a, b, lam) {
    const n = Math.min(a.length, b.length);
    const out = new Float64Array(n);
    for (let i = 0; i < n; i++) out[i] = lam * a[i] + (1 - lam) * b[i];
    return out;
  }

  /** Mixup of two features of the same shape. */
  function mixFeatures(fa, fb, lam) {
    return Object.assign({}, fa, { data: mix(fa.data, fb.data, lam) });
  }

  /**
   * One random-erasing rectangle (augment.RandomErasing.sample_boxes, p = 1) in a height x width image: area a
   * fraction uniform in `area`, aspect ratio height / width uniform in `aspect`; a draw that does not fit is
   * retried up to `attempts` times. Returns {top, left, height, width} or null when no draw fitted.
   */
  function sampleErasingBox(rng, height, width, area, aspect, attempts = 100) {
    for (let i = 0; i < attempts; i++) {
      const a = height * width * (area[0] + (area[1] - area[0]) * rng());
      const ratio = aspect[0] + (aspect[1] - aspect[0]) * rng();
      const h = Math.round(Math.sqrt(a * ratio));
      const w = Math.round(Math.sqrt(a / ratio));
      const u2 = rng(), u3 = rng();
      if (h >= 1 && w >= 1 && h < height && w < width) {
        const top = Math.min(height - 1, Math.floor(u2 * (height - h + 1)));
        const left = Math.min(width - 1, Math.floor(u3 * (width - w + 1)));
        return { top, left, height: h, width: w };
      }
    }
    return null;
  }

  /**
   * SpecAugment masks (augment.SpecAugment.sample_masks): `nFreq` bands of f rows, f uniform in 0 .. freqWidth, and
   * `nTime` stripes of t frames, t uniform in 0 .. timeWidth, widths capped at the feature's size. Returns
   * {freq: [[start, width], ...], time: [[start, width], ...]}.
   */
  function sampleSpecAugment(rng, height, width, nFreq, freqWidth, nTime, timeWidth) {
    const spans = (n, maxWidth, size) => {
      const out = [];
      const cap = Math.min(maxWidth, size);
      for (let i = 0; i < n; i++) {
        const w = Math.min(cap, Math.floor(rng() * (cap + 1)));
        const start = Math.min(size, Math.floor(rng() * (size - w + 1)));
        out.push([start, w]);
      }
      return out;
    };
    return { freq: spans(nFreq, freqWidth, height), time: spans(nTime, timeWidth, width) };
  }

  /** A rows x frames Uint8Array mask: 1 inside the box and the SpecAugment bands (either may be null). */
  function maskOf(rows, frames, box, masks) {
    const mask = new Uint8Array(rows * frames);
    if (box) {
      for (let r = box.top; r < box.top + box.height; r++) mask.fill(1, r * frames + box.left, r * frames + box.left + box.width);
    }
    if (masks) {
      for (const [start, w] of masks.freq) for (let r = start; r < start + w; r++) mask.fill(1, r * frames, (r + 1) * frames);
      for (const [start, w] of masks.time) for (let r = 0; r < rows; r++) mask.fill(1, r * frames + start, r * frames + start + w);
    }
    return mask;
  }

  /**
   * Fill the masked cells of every channel (augment._fill): "mean" the channel's mean, "zero", or "random" uniform
   * noise in the channel's [min, max] drawn from `rng`. Returns a new feature.
   */
  function applyMask(feature, mask, fill, rng) {
    const { channels, rows, frames } = feature;
    const size = rows * frames;
    const data = Float64Array.from(feature.data);
    for (let c = 0; c < channels; c++) {
      const base = c * size;
      let sum = 0, lo = Infinity, hi = -Infinity;
      for (let i = 0; i < size; i++) {
        const v = feature.data[base + i];
        sum += v; if (v < lo) lo = v; if (v > hi) hi = v;
      }
      const mean = sum / size;
      for (let i = 0; i < size; i++) {
        if (!mask[i]) continue;
        if (fill === 'mean') data[base + i] = mean;
        else if (fill === 'zero') data[base + i] = 0;
        else if (fill === 'random') data[base + i] = lo + (hi - lo) * rng();
        else throw new Error(`unknown fill ${fill}; use "mean", "zero" or "random"`);
      }
    }
    return Object.assign({}, feature, { data });
  }

  // ---------------------------------------------------------------------------------------------------------- WAV
  /** Bytes of a base64 string. */
  function base64ToBytes(text) {
    const raw = atob(text);
    const out = new Uint8Array(raw.length);
    for (let i = 0; i < raw.length; i++) out[i] = raw.charCodeAt(i);
    return out;
  }

  /**
   * Parse a RIFF WAV file (PCM 8/16/24/32-bit or 32/64-bit float) into {sampleRate, channels, samples}, samples a
   * mono Float64Array (the channels' mean), 16-bit values read as int / 32768 like libsndfile and the browsers.
   */
  function decodeWav(bytes) {
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    const tag = (at) => String.fromCharCode(bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]);
    if (bytes.length < 12 || tag(0) !== 'RIFF' || tag(8) !== 'WAVE') throw new Error('not a RIFF/WAVE file');
    let fmt = null, data = null;
    for (let at = 12; at + 8 <= bytes.length;) {
      const id = tag(at), size = view.getUint32(at + 4, true);
      if (id === 'fmt ') {
        fmt = { format: view.getUint16(at + 8, true), channels: view.getUint16(at + 10, true),
          sampleRate: view.getUint32(at + 12, true), bits: view.getUint16(at + 22, true) };
        if (fmt.format === 0xFFFE && size >= 26) fmt.format = view.getUint16(at + 32, true);   // WAVE_FORMAT_EXTENSIBLE
      } else if (id === 'data') {
        data = { offset: at + 8, size: Math.min(size, bytes.length - at - 8) };
      }
      at += 8 + size + (size % 2);
    }
    if (!fmt || !data) throw new Error('WAV file without fmt or data chunk');
    const width = fmt.bits / 8, frames = Math.floor(data.size / (width * fmt.channels));
    const read = {
      '1:8': (o) => (view.getUint8(o) - 128) / 128,
      '1:16': (o) => view.getInt16(o, true) / 32768,
      '1:24': (o) => ((view.getUint8(o) | (view.getUint8(o + 1) << 8) | (view.getInt8(o + 2) << 16))) / 8388608,
      '1:32': (o) => view.getInt32(o, true) / 2147483648,
      '3:32': (o) => view.getFloat32(o, true),
      '3:64': (o) => view.getFloat64(o, true),
    }[`${fmt.format}:${fmt.bits}`];
    if (!read) throw new Error(`unsupported WAV encoding (format ${fmt.format}, ${fmt.bits} bits)`);
    const samples = new Float64Array(frames);
    for (let i = 0; i < frames; i++) {
      let sum = 0;
      for (let c = 0; c < fmt.channels; c++) sum += read(data.offset + (i * fmt.channels + c) * width);
      samples[i] = sum / fmt.channels;
    }
    return { sampleRate: fmt.sampleRate, channels: fmt.channels, samples };
  }

  /** A mono 16-bit PCM WAV file of `samples` (clipped to [-1, 1], scaled by 32767), for an <audio> player. */
  function encodeWav(samples, sampleRate) {
    const n = samples.length;
    const bytes = new Uint8Array(44 + 2 * n);
    const view = new DataView(bytes.buffer);
    const text = (at, s) => { for (let i = 0; i < 4; i++) bytes[at + i] = s.charCodeAt(i); };
    text(0, 'RIFF'); view.setUint32(4, 36 + 2 * n, true); text(8, 'WAVE');
    text(12, 'fmt '); view.setUint32(16, 16, true); view.setUint16(20, 1, true); view.setUint16(22, 1, true);
    view.setUint32(24, sampleRate, true); view.setUint32(28, 2 * sampleRate, true);
    view.setUint16(32, 2, true); view.setUint16(34, 16, true);
    text(36, 'data'); view.setUint32(40, 2 * n, true);
    for (let i = 0; i < n; i++) view.setInt16(44 + 2 * i, Math.round(Math.max(-1, Math.min(1, samples[i])) * 32767), true);
    return bytes;
  }

  root.AudiotagDSP = {
    AMIN, KINDS, hammingWindow, fft, rfft, nFrames, stftPower, hzToMel, melToHz, melFrequencies, melFilterbank,
    melFilterbankDense, applyFilterbank, powerToDb, dctMatrix, matmul, normalizeWave, fitLength, centerCrop, computeFeature,
    standardize, range, mulberry32, mix, mixFeatures, sampleErasingBox, sampleSpecAugment, maskOf, applyMask,
    base64ToBytes, decodeWav, encodeWav,
  };
})(typeof window !== 'undefined' ? window : globalThis);
