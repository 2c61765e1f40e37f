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
   * The layout of a RIFF WAV file: {format, channels, sampleRate, bits, frames, read(frame, channel)}, `read`
   * giving a sample as libsndfile's normalised float reading does (PCM: int / 2^(bits - 1), unsigned 8-bit centred
   * on 128; float as stored). Throws on a file that is not WAV or an encoding it cannot read.
   */
  function wavLayout(bytes) {
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
    if (!(fmt.channels >= 1)) throw new Error('WAV file with no channels');
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
    return Object.assign({}, fmt, { frames,
      read: (frame, channel) => read(data.offset + (frame * fmt.channels + channel) * width) });
  }

  /**
   * Parse a RIFF WAV file (PCM 8/16/24/32-bit or 32/64-bit float) into {sampleRate, channels, samples}, samples a
   * mono Float64Array (the channels' mean), 16-bit values read as int / 32768 like libsndfile and the browsers.
   */
  function decodeWav(bytes) {
    const wav = wavLayout(bytes);
    const samples = new Float64Array(wav.frames);
    for (let i = 0; i < wav.frames; i++) {
      let sum = 0;
      for (let c = 0; c < wav.channels; c++) sum += wav.read(i, c);
      samples[i] = sum / wav.channels;
    }
    return { sampleRate: wav.sampleRate, channels: wav.channels, samples };
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

  // ------------------------------------------------------------------------------------------------- resampling
  // audiotag.data.audio.resample, sample for sample: zero-stuff by `up`, low-pass with one Kaiser-windowed sinc, keep
  // every `down`-th sample (scipy.signal.resample_poly with our filter). The book's tagger (static/tagger/) feeds
  // the networks through this, so the page hears what `audiotag predict` hears.

  /** The resampling filter's band edges (fractions of the lower rate's Nyquist frequency) and attenuation (dB). */
  const RESAMPLER = { passband: 0.913, stopband: 1.0, attenuation_db: 100 };

  function gcd(a, b) {
    while (b) { const t = a % b; a = b; b = t; }
    return a;
  }

  /** [up, down]: the rate ratio target / orig in lowest terms (44100 to 16000: [160, 441]). */
  function resamplingFactors(orig, target) {
    if (!(Number.isInteger(orig) && Number.isInteger(target) && orig >= 1 && target >= 1)) {
      throw new Error(`sample rates must be positive integers, got ${orig} and ${target}`);
    }
    const g = gcd(orig, target);
    return [target / g, orig / g];
  }

  /** The modified Bessel function I0(x) by its power series sum_k ((x / 2)^k / k!)^2 (all terms positive). */
  function besselI0(x) {
    const q = (x * x) / 4;
    let term = 1, sum = 1;
    for (let k = 1; k < 1000; k++) {
      term *= q / (k * k);
      sum += term;
      if (term <= sum * 1e-17) break;
    }
    return sum;
  }

  /**
   * The low-pass FIR filter of a resampling by up / down (audio.resampling_filter), Kaiser's window method: with
   * m = max(up, down), transition width w = (stopband - passband) pi / m, N = ceil((A - 7.95) / (2.285 w)) made
   * odd, beta = 0.1102 (A - 8.7); tap k (centre c = (N - 1) / 2) is f sinc(f (k - c)) I0(beta sqrt(1 - ((k - c) /
   * c)^2)) / I0(beta) with f = (passband + stopband) / (2 m); the taps sum to 1. A Float64Array (memoised: treat it
   * as read-only).
   */
  const resamplingFilter = memo(function (up, down, passband = RESAMPLER.passband, stopband = RESAMPLER.stopband,
    attenuationDb = RESAMPLER.attenuation_db) {
    const m = Math.max(up, down);
    const width = ((stopband - passband) * Math.PI) / m;
    const nTaps = Math.ceil((attenuationDb - 7.95) / (2.285 * width)) | 1;
    const beta = 0.1102 * (attenuationDb - 8.7);
    const cutoff = (passband + stopband) / (2 * m);
    const c = (nTaps - 1) / 2, i0Beta = besselI0(beta);
    const taps = new Float64Array(nTaps);
    let sum = 0;
    for (let k = 0; k < nTaps; k++) {
      const y = Math.PI * (cutoff * (k - c));                          // numpy.sinc(x) = sin(pi x) / (pi x)
      const sinc = y === 0 ? 1 : Math.sin(y) / y;
      const r = (k - c) / c;
      const kaiser = nTaps === 1 ? 1 : besselI0(beta * Math.sqrt(Math.max(0, 1 - r * r))) / i0Beta;
      taps[k] = cutoff * sinc * kaiser;
      sum += taps[k];
    }
    for (let k = 0; k < nTaps; k++) taps[k] /= sum;
    return taps;
  }, 8);

  /**
   * `wave` (any array of numbers) at `orig` Hz resampled to `target` Hz (audio.resample): ceil(n up / down) samples,
   * y[j] = sum_i x[i] (up h[j down + (N - 1) / 2 - i up]) over the taps that exist, summed in float64 and returned
   * as a Float32Array (Python casts to float32). Equal rates: a float32 copy.
   */
  function resample(wave, orig, target) {
    if (orig === target) return Float32Array.from(wave);
    const [up, down] = resamplingFactors(orig, target);
    const h = resamplingFilter(up, down, RESAMPLER.passband, RESAMPLER.stopband, RESAMPLER.attenuation_db);
    const nTaps = h.length, half = (nTaps - 1) / 2, n = wave.length;
    const total = n * up;
    const nOut = Math.floor(total / down) + (total % down ? 1 : 0);
    const out = new Float32Array(nOut);
    for (let j = 0; j < nOut; j++) {
      const t = j * down + half;                                        // index of x[0]'s tap: t - i up
      const iMax = Math.min(n - 1, Math.floor(t / up));
      const iMin = t - nTaps + 1 > 0 ? Math.ceil((t - nTaps + 1) / up) : 0;
      let sum = 0;
      for (let i = iMin, k = t - iMin * up; i <= iMax; i++, k -= up) sum += wave[i] * (up * h[k]);
      out[j] = sum;
    }
    return out;
  }

  // ------------------------------------------------------------------------------------------------ decoding
  /**
   * The mean of equal-length channels as numpy's float32 mean does it (sum in float32, then divided by the count),
   * which is what load_audio's `data.mean(axis=1)` gives; one channel is copied to float32.
   */
  function mixChannels(channels) {
    const n = channels[0].length, out = new Float32Array(n);
    if (channels.length === 1) { out.set(channels[0]); return out; }
    const sum = new Float32Array(1);
    for (let i = 0; i < n; i++) {
      sum[0] = channels[0][i];
      for (let c = 1; c < channels.length; c++) sum[0] += Math.fround(channels[c][i]);
      out[i] = sum[0] / channels.length;
    }
    return out;
  }

  /**
   * A WAV file as load_audio reads it before resampling: {sampleRate, channels, samples}, samples a Float32Array,
   * each sample read as a float32 the way libsndfile normalises it, the channels mixed by mixChannels.
   */
  function decodeWavFloat32(bytes) {
    const wav = wavLayout(bytes);
    const channels = [];
    for (let c = 0; c < wav.channels; c++) {
      const x = new Float32Array(wav.frames);
      for (let i = 0; i < wav.frames; i++) x[i] = wav.read(i, c);
      channels.push(x);
    }
    return { sampleRate: wav.sampleRate, channels: wav.channels, samples: mixChannels(channels) };
  }

  /**
   * What kind of audio file `bytes` (Uint8Array) starts like, and its sample rate where the header gives it:
   * {format: "wav" | "flac" | "vorbis" | "opus" | "other", sampleRate: number | null} (FLAC also `bits`, its bits per
   * sample). FLAC's rate is the 20 bits of its STREAMINFO block (after an optional ID3v2 tag), Ogg Vorbis' the rate
   * of its identification header; Opus always decodes at 48 kHz.
   */
  function sniffAudio(bytes) {
    const text = (at, n) => String.fromCharCode.apply(null, bytes.subarray(at, at + n));
    if (bytes.length >= 12 && text(0, 4) === 'RIFF' && text(8, 4) === 'WAVE') {
      let rate = null;
      try { rate = wavLayout(bytes).sampleRate; } catch (e) { /* reported when decoded */ }
      return { format: 'wav', sampleRate: rate };
    }
    let at = 0;
    if (bytes.length >= 10 && text(0, 3) === 'ID3') {                   // ID3v2: 10-byte header, syncsafe size
      const size = ((bytes[6] & 127) << 21) | ((bytes[7] & 127) << 14) | ((bytes[8] & 127) << 7) | (bytes[9] & 127);
      at = 10 + size + (bytes[5] & 0x10 ? 10 : 0);
    }
    if (bytes.length >= at + 22 && text(at, 4) === 'fLaC' && (bytes[at + 4] & 127) === 0) {
      const s = at + 8;                             // STREAMINFO: rate in bits 80..99, bits per sample - 1 in 103..107
      const rate = (bytes[s + 10] << 12) | (bytes[s + 11] << 4) | (bytes[s + 12] >> 4);
      const bits = (((bytes[s + 12] & 1) << 4) | (bytes[s + 13] >> 4)) + 1;
      return { format: 'flac', sampleRate: rate || null, bits };
    }
    if (bytes.length >= 4 && text(0, 4) === 'OggS') {
      const head = text(0, Math.min(bytes.length, 512));
      const v = head.indexOf('\x01vorbis');
      if (v >= 0 && v + 16 <= bytes.length) {
        const rate = bytes[v + 12] | (bytes[v + 13] << 8) | (bytes[v + 14] << 16) | (bytes[v + 15] << 24);
        return { format: 'vorbis', sampleRate: rate > 0 ? rate : null };
      }
      if (head.indexOf('OpusHead') >= 0) return { format: 'opus', sampleRate: 48000 };
    }
    return { format: 'other', sampleRate: null };
  }

  /**
   * A browser-decoded channel of 16-bit (or narrower) integer audio, read back as int / 32768 like libsndfile.
   * Chromium scales positive 16-bit samples by 1 / 32767 and negative ones by 1 / 32768; when every positive sample
   * is an integer over 32767 (and not all are integers over 32768) they are rescaled, otherwise (a browser that
   * already divides by 32768, or not integer audio) the channel is returned unchanged. Works in place.
   */
  function restoreInt16(channel) {
    let over32768 = true, over32767 = true;
    for (let i = 0; i < channel.length && (over32767 || over32768); i++) {
      const v = channel[i];
      if (v <= 0) continue;
      if (!Number.isInteger(v * 32768)) over32768 = false;
      if (Math.abs(v * 32767 - Math.round(v * 32767)) > 1e-3) over32767 = false;
    }
    if (over32768 || !over32767) return channel;
    for (let i = 0; i < channel.length; i++) if (channel[i] > 0) channel[i] = Math.round(channel[i] * 32767) / 32768;
    return channel;
  }

  // -------------------------------------------------------------------------------------------------- windows
  /** round() with ties to even, as numpy rounds. */
  function roundHalfEven(x) {
    const r = Math.round(x);                                            // ties go up
    return r - x === 0.5 && r % 2 !== 0 ? r - 1 : r;
  }

  /** numpy.linspace(start, stop, num) (endpoint included): i * step + start, the last point exactly stop. */
  function linspace(start, stop, num) {
    const out = new Float64Array(num);
    if (num === 1) { out[0] = start; return out; }
    const div = num - 1, delta = stop - start, step = delta / div;
    for (let i = 0; i < num; i++) out[i] = (step === 0 ? (i / div) * delta : i * step) + start;
    out[num - 1] = stop;
    return out;
  }

  /**
   * Crop starts of one clip of `length` bank units (samples or frames) for crops of `n` units, as
   * ClipBank.center_crops / window_crops choose them. `inference`: {mode: "windows" | "center", n_crops (null: enough
   * windows to overlap by half, ceil(2 L / n) - 1), max_crops}. Windows span max(length, n) and start at
   * round(linspace(0, max(length, n) - n, k)) (ties to even).
   */
  function windowStarts(length, n, inference) {
    const mode = inference.mode == null ? 'windows' : inference.mode;
    if (mode === 'center') return [Math.floor(Math.max(length - n, 0) / 2)];
    if (mode !== 'windows') throw new Error(`unknown inference mode ${mode}; use "windows" or "center"`);
    const span = Math.max(length, n);
    let k = inference.n_crops != null ? inference.n_crops : Math.max(1, Math.floor((2 * span + n - 1) / n) - 1);
    k = Math.max(1, Math.min(k, inference.max_crops == null ? 8 : inference.max_crops));
    return Array.from(linspace(0, span - n, k), roundHalfEven);
  }

  /**
   * Crops of a clip item (ClipBank._gather): `data` holds `depth` rows of `length` units ([row][unit], e.g. a
   * feature's [channel][mel][frame]); crop c is units starts[c] .. starts[c] + n - 1 of every row, wrapping around a
   * short clip ("repeat") or holding its last unit and zeroing past the end ("pad"). Returns a Float32Array laid
   * out [crop][row][unit].
   */
  function gatherCrops(data, depth, length, starts, n, policy = 'repeat') {
    if (policy !== 'repeat' && policy !== 'pad') throw new Error(`unknown short-clip policy ${policy}; use "repeat" or "pad"`);
    const out = new Float32Array(starts.length * depth * n);
    starts.forEach((start, c) => {
      for (let r = 0; r < depth; r++) {
        const src = r * length, dst = (c * depth + r) * n;
        for (let j = 0; j < n; j++) {
          const p = start + j;
          if (p < length) out[dst + j] = data[src + p];
          else if (policy === 'repeat') out[dst + j] = data[src + (p % length)];
          // "pad": zero (the typed array's initial value)
        }
      }
    });
    return out;
  }

  /** Why the page cannot compute a FeatureConfig (dict) like audiotag does: a list of reasons (empty: it can). */
  function pageFeatureProblems(cfg) {
    const problems = [];
    if (cfg.trim_silence) problems.push('trim_silence (silence trimming before cropping)');
    if (cfg.kind === 'waveform') return problems;
    if (!KINDS.includes(cfg.kind)) return problems.concat([`feature kind ${cfg.kind}`]);
    if (cfg.window != null && cfg.window !== 'hamming') problems.push(`window ${cfg.window} (the page has hamming)`);
    const windowIsFft = cfg.kind === 'multires' || (cfg.kind === 'spectrogram' && cfg.spectrogram_n_fft != null);
    if (!windowIsFft && cfg.win_length != null && cfg.win_length !== cfg.n_fft) problems.push(`win_length ${cfg.win_length} != n_fft`);
    if (cfg.center === false) problems.push('center=False frames');
    if (cfg.magnitude) problems.push('magnitude spectrograms');
    if (cfg.kind !== 'spectrogram' && cfg.mel_scale != null && cfg.mel_scale !== 'slaney') problems.push(`mel_scale ${cfg.mel_scale}`);
    if (cfg.log != null && cfg.log !== 'db') problems.push(`log ${cfg.log}`);
    return problems;
  }

  /**
   * A clip's bank item (InputPipeline.clip_item) from its waveform at cfg.sample_rate: {depth, length, data, shape}
   * with data [row][unit]; the waveform itself (1 x N) for kind "waveform", else the dB feature of the whole clip
   * (computeFeature: C x F x T, depth C * F). Throws for settings the page cannot compute (pageFeatureProblems).
   */
  function clipItem(wave, cfg) {
    const problems = pageFeatureProblems(cfg);
    if (problems.length) throw new Error(`the page cannot compute these feature settings: ${problems.join('; ')}`);
    if (cfg.kind === 'waveform') return { depth: 1, length: wave.length, data: wave, shape: [1] };
    const f = computeFeature(wave, cfg);
    return { depth: f.channels * f.rows, length: f.frames, data: f.data, shape: [f.channels, f.rows] };
  }

  // --------------------------------------------------------------------------------------------- probabilities
  /** The element-wise mean of equal-length arrays (window probabilities of a clip, folds of a network). */
  function meanOf(rows) {
    const out = new Float64Array(rows[0].length);
    for (const row of rows) for (let i = 0; i < out.length; i++) out[i] += row[i];
    for (let i = 0; i < out.length; i++) out[i] /= rows.length;
    return out;
  }

  /** ensembles.arithmetic_mean of one clip: the weighted mean (weights normalised; default equal), divided by its sum. */
  function combineMean(rows, weights) {
    const w = weights || rows.map(() => 1);
    const total = w.reduce((a, b) => a + b, 0);
    const out = new Float64Array(rows[0].length);
    rows.forEach((row, m) => { for (let i = 0; i < out.length; i++) out[i] += (w[m] / total) * row[i]; });
    const sum = out.reduce((a, b) => a + b, 0);
    for (let i = 0; i < out.length; i++) out[i] = sum > 0 ? out[i] / sum : 1 / out.length;
    return out;
  }

  /** Indices of the k largest values, ties to the lower index (numpy.argsort(-p, kind="stable")[:k]). */
  function topIndices(values, k) {
    const order = Array.from(values, (_, i) => i);
    order.sort((a, b) => (values[b] - values[a]) || (a - b));
    return order.slice(0, k);
  }

  root.AudiotagDSP = {
    AMIN, KINDS, hammingWindow, fft, rfft, nFrames, stftPower, hzToMel, melToHz, melFrequencies, melFilterbank,
    melFilterbankDense, applyFilterbank, powerToDb, dctMatrix, matmul, normalizeWave, fitLength, centerCrop, computeFeature,
    standardize, range, mulberry32, mix, mixFeatures, sampleErasingBox, sampleSpecAugment, maskOf, applyMask,
    base64ToBytes, decodeWav, encodeWav,
    // the page tagger (static/tagger/)
    RESAMPLER, resamplingFactors, besselI0, resamplingFilter, resample, mixChannels, decodeWavFloat32, sniffAudio,
    restoreInt16,     roundHalfEven, linspace, windowStarts, gatherCrops, pageFeatureProblems, clipItem, meanOf, combineMean, topIndices,
  };
})(typeof window !== 'undefined' ? window : globalThis);
