/*
 * explorers.js - the book's interactive explorers, live in the static page (no Jupyter kernel, no network).
 *
 * Every <div class="audiotag-explorer" data-kind="feature|augment"> of the page becomes an explorer when the DOM
 * is ready. Its settings come from a child <script type="application/json"> written by audiotag_explorer_page.py:
 * {defaults: <_static/explorers/defaults.json>, clips: [{label, name, sample_rate, wav: <base64 16-bit WAV>}]},
 * so nothing here hard-codes a default. The numerics are dsp.js's (AudiotagDSP), which must be loaded too.
 *
 *   feature  pick a clip (or drop your own audio file), a feature kind, window, hop, mel bands, MFCCs and dB
 *            range; see the feature with time and frequency axes and a colour bar, hear the clip.
 *   augment  mix two clips with a weight (hear the mixed waveform, see the mix of their standardised log-mels)
 *            and draw random-erasing / SpecAugment masks on the mix with a seeded generator.
 *
 * For tests each root element carries data-state ("ready" or "error"), data-draws (redraws so far) and the
 * explorer object itself as `root.audiotagExplorer` (its .feature / .shown hold what is drawn).
 */
(function () {
  'use strict';

  // ---------------------------------------------------------------------------------------------------- colours
  /** viridis at 17 evenly spaced points (matplotlib), interpolated linearly into a 256-entry table. */
  const VIRIDIS = '44015448186a472d7b4240863b528b33638d2c728e26828e21918c1fa08828ae803fbc735ec96284d44baddc30d8e219fde725';
  const LUT = (function () {
    const anchors = [];
    for (let i = 0; i < VIRIDIS.length; i += 6) {
      anchors.push([0, 2, 4].map((j) => parseInt(VIRIDIS.slice(i + j, i + j + 2), 16)));
    }
    const lut = new Uint8ClampedArray(256 * 3);
    for (let i = 0; i < 256; i++) {
      const x = (i / 255) * (anchors.length - 1);
      const k = Math.min(anchors.length - 2, Math.floor(x));
      const f = x - k;
      for (let c = 0; c < 3; c++) lut[3 * i + c] = anchors[k][c] + f * (anchors[k + 1][c] - anchors[k][c]);
    }
    return lut;
  })();

  function colourAt(fraction) {
    const i = 3 * Math.max(0, Math.min(255, Math.round(fraction * 255)));
    return `rgb(${LUT[i]},${LUT[i + 1]},${LUT[i + 2]})`;
  }

  // --------------------------------------------------------------------------------------------------- DOM help
  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(attrs || {})) {
      if (value !== null && value !== undefined && value !== false) node.setAttribute(key, value === true ? '' : value);
    }
    for (const child of children) node.append(child);
    return node;
  }

  /** A labelled <select> of [value, text] options; the select carries data-control=name. */
  function selectControl(name, label, options, value) {
    const input = el('select', { 'data-control': name });
    for (const [v, text] of options) input.append(el('option', { value: String(v) }, String(text)));
    input.value = String(value);
    return { input, wrap: el('label', { class: 'atx-control' }, el('span', {}, label), input) };
  }

  /** A labelled range slider [min, max, step] with its value shown beside it. */
  function rangeControl(name, label, [min, max, step], value, format = String) {
    const input = el('input', { type: 'range', min, max, step, 'data-control': name });
    input.value = String(value);
    const out = el('output', {}, format(Number(input.value)));
    const show = () => { out.textContent = format(Number(input.value)); };
    input.addEventListener('input', show);
    input.addEventListener('change', show);
    return { input, show, wrap: el('label', { class: 'atx-control' }, el('span', {}, label), input, out) };
  }

  const fixed = (digits) => (v) => Number(v).toFixed(digits);

  // -------------------------------------------------------------------------------------------------- drawing
  const FONT = '11px system-ui, -apple-system, "Segoe UI", sans-serif';
  const INK = '#222';

  /** A readable step for about `target` ticks over `span`. */
  function niceStep(span, target, steps) {
    for (const s of steps) if (span / s <= target) return s;
    return steps[steps.length - 1];
  }

  /**
   * Draw panels of heat maps on a canvas of width x height CSS pixels: spec = {width, height, cols, panels, vmin,
   * vmax, unit, secondsPerFrame}; each panel {data, offset, rows, frames, title, yLabel, yTicks: [[row, text]]}.
   * Rows are drawn lowest first from the bottom; time runs left to right; one colour bar serves all panels.
   */
  function drawGrid(canvas, spec) {
    const dpr = Math.max(1, Math.min(3, window.devicePixelRatio || 1));
    const W = spec.width, H = spec.height;
    canvas.width = Math.round(W * dpr);
    canvas.height = Math.round(H * dpr);
    const ctx = canvas.getContext('2d');
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    ctx.fillStyle = '#fff';
    ctx.fillRect(0, 0, W, H);
    ctx.font = FONT;

    const margin = { left: 66, right: 84, top: 22, bottom: 38 };
    const gapX = 70, gapY = 34;
    const cols = spec.cols, nRows = Math.ceil(spec.panels.length / cols);
    const pw = (W - margin.left - margin.right - (cols - 1) * gapX) / cols;
    const ph = (H - margin.top - margin.bottom - (nRows - 1) * gapY) / nRows;
    const span = spec.vmax - spec.vmin || 1;

    spec.panels.forEach((panel, i) => {
      const x0 = margin.left + (i % cols) * (pw + gapX);
      const y0 = margin.top + Math.floor(i / cols) * (ph + gapY);
      // The heat map, nearest-neighbour, in device pixels.
      const X0 = Math.round(x0 * dpr), Y0 = Math.round(y0 * dpr);
      const PW = Math.round(pw * dpr), PH = Math.round(ph * dpr);
      const image = ctx.createImageData(PW, PH);
      const { rows, frames, data } = panel;
      const offset = panel.offset || 0;
      const colOf = new Int32Array(PW), rowOf = new Int32Array(PH);
      for (let px = 0; px < PW; px++) colOf[px] = Math.min(frames - 1, Math.floor((px * frames) / PW));
      for (let py = 0; py < PH; py++) rowOf[py] = rows - 1 - Math.min(rows - 1, Math.floor((py * rows) / PH));
      for (let py = 0; py < PH; py++) {
        const base = offset + rowOf[py] * frames;
        for (let px = 0; px < PW; px++) {
          const k = 3 * Math.max(0, Math.min(255, Math.round(((data[base + colOf[px]] - spec.vmin) / span) * 255)));
          const o = 4 * (py * PW + px);
          image.data[o] = LUT[k]; image.data[o + 1] = LUT[k + 1]; image.data[o + 2] = LUT[k + 2]; image.data[o + 3] = 255;
        }
      }
      ctx.putImageData(image, X0, Y0);
      ctx.strokeStyle = '#888';
      ctx.strokeRect(x0 - 0.5, y0 - 0.5, pw + 1, ph + 1);

      ctx.fillStyle = INK;
      ctx.textAlign = 'left';
      ctx.textBaseline = 'bottom';
      ctx.fillText(panel.title, x0, y0 - 4);
      // Frequency (row) ticks.
      ctx.textAlign = 'right';
      ctx.textBaseline = 'middle';
      for (const [row, text] of panel.yTicks) {
        const y = y0 + ph - ((row + 0.5) / rows) * ph;
        if (y < y0 - 0.5 || y > y0 + ph + 0.5) continue;
        ctx.fillRect(x0 - 4, Math.round(y), 4, 1);
        ctx.fillText(text, x0 - 6, y);
      }
      ctx.save();
      ctx.translate(x0 - 48, y0 + ph / 2);
      ctx.rotate(-Math.PI / 2);
      ctx.textAlign = 'center';
      ctx.fillText(panel.yLabel, 0, 0);
      ctx.restore();
      // Time ticks, under every panel of the bottom row.
      if (Math.floor(i / cols) === nRows - 1 || i + cols >= spec.panels.length) {
        const spf = spec.secondsPerFrame;
        const last = (frames - 1) * spf;
        const step = niceStep(last || spf, 7, [0.01, 0.02, 0.05, 0.1, 0.2, 0.25, 0.5, 1, 2, 5, 10, 20, 30, 60]);
        const digits = step >= 1 ? 0 : step >= 0.1 && step !== 0.25 ? 1 : 2;
        ctx.textAlign = 'center';
        ctx.textBaseline = 'top';
        for (let s = 0; s <= last + 1e-9; s += step) {
          const x = x0 + ((s / spf + 0.5) / frames) * pw;
          ctx.fillRect(Math.round(x), y0 + ph, 1, 4);
          ctx.fillText(s.toFixed(digits), x, y0 + ph + 6);
        }
        ctx.fillText('time (s)', x0 + pw / 2, y0 + ph + 20);
      }
    });

    // The colour bar, over the full height of the panels.
    const bx = W - margin.right + 16, top = margin.top, bh = H - margin.top - margin.bottom;
    for (let y = 0; y < bh; y++) {
      ctx.fillStyle = colourAt(1 - y / (bh - 1));
      ctx.fillRect(bx, top + y, 12, 1);
    }
    ctx.strokeStyle = '#888';
    ctx.strokeRect(bx - 0.5, top - 0.5, 13, bh + 1);
    ctx.fillStyle = INK;
    ctx.textAlign = 'left';
    ctx.textBaseline = 'middle';
    const step = niceStep(span, 6, [0.1, 0.2, 0.5, 1, 2, 5, 10, 20, 25, 50, 100, 200, 500, 1000]);
    const digits = step < 1 ? 1 : 0;
    for (let v = Math.ceil(spec.vmin / step) * step; v <= spec.vmax + 1e-9; v += step) {
      const y = top + bh - ((v - spec.vmin) / span) * bh;
      ctx.fillRect(bx + 13, Math.round(y), 4, 1);
      ctx.fillText(v.toFixed(digits), bx + 19, y);
    }
    ctx.textBaseline = 'bottom';
    ctx.fillText(spec.unit, bx - 2, top - 4);
  }

  /** Row ticks of a mel axis: frequencies in Hz placed between the bands' centre frequencies. */
  function melTicks(DSP, sampleRate, nMels, fmin, fmax) {
    const hi = fmax == null ? sampleRate / 2 : fmax;
    const edges = DSP.melFrequencies(nMels + 2, fmin || 0, hi);
    const centres = edges.slice(1, nMels + 1);
    const ticks = [];
    for (const f of [0, 250, 500, 1000, 2000, 4000, 8000, 16000]) {
      if (f < centres[0] || f > centres[nMels - 1]) continue;
      let j = 0;
      while (j < nMels - 2 && centres[j + 1] < f) j++;
      const row = j + (f - centres[j]) / (centres[j + 1] - centres[j] || 1);
      ticks.push([row, f >= 1000 ? `${f / 1000}k` : String(f)]);
    }
    return ticks;
  }

  /** Row ticks of a linear-frequency (FFT bin) axis. */
  function binTicks(sampleRate, nFft) {
    const nyquist = sampleRate / 2;
    const step = niceStep(nyquist, 6, [500, 1000, 2000, 2500, 5000, 10000]);
    const ticks = [];
    for (let f = 0; f <= nyquist + 1e-9; f += step) ticks.push([(f * nFft) / sampleRate, f >= 1000 ? `${f / 1000}k` : String(f)]);
    return ticks;
  }

  // --------------------------------------------------------------------------------------------------- clips
  /** An embedded clip: {label, name, wav: base64} -> samples (Float64Array) at the explorer's rate. */
  function embeddedClip(DSP, entry, rate) {
    const decoded = DSP.decodeWav(DSP.base64ToBytes(entry.wav));
    if (decoded.sampleRate !== rate) {
      throw new Error(`clip "${entry.name}" is at ${decoded.sampleRate} Hz, the explorer at ${rate} Hz`);
    }
    return { label: entry.label, name: entry.name, samples: decoded.samples, cache: new Map(),
      src: `data:audio/wav;base64,${entry.wav}` };
  }

  /**
   * The reader's own audio file, decoded by the browser (any format it plays) and resampled to `rate` by an
   * OfflineAudioContext at that rate (decodeAudioData resamples to its context's rate), mixed to mono, cut to
   * `maxSeconds`.
   */
  async function decodeFile(file, rate, maxSeconds) {
    const Ctx = window.OfflineAudioContext || window.webkitOfflineAudioContext;
    if (!Ctx) throw new Error('this browser has no Web Audio API');
    const buffer = await file.arrayBuffer();
    const audio = await new Ctx(1, 1, rate).decodeAudioData(buffer);
    const n = Math.min(audio.length, Math.round(maxSeconds * rate));
    if (n === 0) throw new Error('the file holds no audio');
    const samples = new Float64Array(n);
    for (let c = 0; c < audio.numberOfChannels; c++) {
      const channel = audio.getChannelData(c);
      for (let i = 0; i < n; i++) samples[i] += channel[i] / audio.numberOfChannels;
    }
    return samples;
  }

  // ---------------------------------------------------------------------------------------------- base class
  class Explorer {
    constructor(DSP, root, config) {
      this.DSP = DSP;
      this.root = root;
      this.defaults = config.defaults;
      this.rate = config.defaults.sample_rate;
      this.draws = 0;
      this.canvas = el('canvas', { class: 'atx-canvas', role: 'img' });
      this.info = el('div', { class: 'atx-info' });
      this.statusLine = el('div', { class: 'atx-status', role: 'status' });
      this.player = el('audio', { controls: true, preload: 'none', class: 'atx-player' });
    }

    /** Redraw when a control changes (sliders: when released, so a long computation does not lag). */
    listen(...inputs) {
      for (const input of inputs) input.addEventListener('change', () => this.redraw());
    }

    redraw() {
      try {
        const t0 = performance.now();
        this.draw();
        this.lastMs = performance.now() - t0;
        this.draws += 1;
        this.root.dataset.draws = String(this.draws);
      } catch (err) {
        this.status(`error: ${err.message || err}`, true);
        console.error('audiotag explorer:', err);
      }
    }

    status(text, isError = false) {
      this.statusLine.textContent = text;
      this.statusLine.classList.toggle('atx-error', isError);
    }

    setAudio(src) {
      if (this.player.getAttribute('src') === src) return;
      if (this.blobUrl && this.blobUrl !== src) URL.revokeObjectURL(this.blobUrl);
      this.blobUrl = src.startsWith('blob:') ? src : null;
      this.player.setAttribute('src', src);
    }
  }

  // ---------------------------------------------------------------------------------------- feature explorer
  class FeatureExplorer extends Explorer {
    constructor(DSP, root, config) {
      super(DSP, root, config);
      const d = this.defaults.feature;
      this.clips = config.clips.map((c) => embeddedClip(DSP, c, this.rate));
      if (!this.clips.length) throw new Error('the feature explorer has no clips');
      // The window control edits n_fft (log-mel, MFCC) or spectrogram_n_fft (spectrogram), as FeatureConfig does;
      // the multi-resolution feature has its own fixed windows.
      this.windows = { n_fft: d.n_fft, spectrogram_n_fft: d.spectrogram_n_fft };
      const windowChoices = Array.from(new Set([...d.window_choices, d.n_fft, d.spectrogram_n_fft])).sort((a, b) => a - b);

      this.clip = selectControl('clip', 'clip', this.clips.map((c, i) => [i, c.label === c.name ? c.label : `${c.label}: ${c.name}`]), 0);
      this.kind = selectControl('kind', 'feature', d.kinds.map((k) => [k, d.kind_names[k] || k]), d.kind);
      this.window = selectControl('window', 'window', windowChoices.map((w) => [w, `${w} (${(1000 * w / this.rate).toFixed(0)} ms)`]), d.n_fft);
      this.hop = selectControl('hop', 'hop', d.hop_choices.map((h) => [h, `${h} (${(1000 * h / this.rate).toFixed(1)} ms)`]), d.hop_length);
      this.nMels = rangeControl('n_mels', 'mel bands', d.n_mels_range, d.n_mels);
      this.nMfcc = rangeControl('n_mfcc', 'MFCCs', d.n_mfcc_range, d.n_mfcc);
      this.topDb = rangeControl('top_db', 'dB range', d.top_db_range, d.top_db, (v) => `${v} dB`);
      this.file = el('input', { type: 'file', accept: 'audio/*,.wav,.flac,.ogg,.mp3', 'data-control': 'file' });

      this.window.input.addEventListener('change', () => { this.windows[this.windowKey()] = Number(this.window.input.value); });
      this.kind.input.addEventListener('change', () => this.syncControls());
      this.clip.input.addEventListener('change', () => this.status(''));
      this.listen(this.clip.input, this.kind.input, this.window.input, this.hop.input, this.nMels.input,
        this.nMfcc.input, this.topDb.input);
      this.file.addEventListener('change', () => { if (this.file.files.length) this.addFile(this.file.files[0]); });
      root.addEventListener('dragover', (e) => { e.preventDefault(); root.classList.add('atx-dragging'); });
      root.addEventListener('dragleave', () => root.classList.remove('atx-dragging'));
      root.addEventListener('drop', (e) => {
        e.preventDefault();
        root.classList.remove('atx-dragging');
        const files = e.dataTransfer && e.dataTransfer.files;
        if (files && files.length) this.addFile(files[0]);
      });

      root.append(
        el('div', { class: 'atx-controls' }, this.clip.wrap, this.kind.wrap, this.window.wrap, this.hop.wrap,
          this.nMels.wrap, this.nMfcc.wrap, this.topDb.wrap),
        el('div', { class: 'atx-row' }, this.player,
          el('label', { class: 'atx-file' }, el('span', {}, 'your own audio:'), this.file),
          el('span', { class: 'atx-hint' }, 'or drop an audio file here')),
        this.info, this.canvas, this.statusLine);
      this.syncControls();
      this.redraw();
    }

    windowKey() {
      return this.kind.input.value === 'spectrogram' ? 'spectrogram_n_fft' : 'n_fft';
    }

    /** Show the current kind's window; switch off the controls the kind does not use. */
    syncControls() {
      const kind = this.kind.input.value;
      this.window.input.value = String(this.windows[this.windowKey()]);
      this.window.input.disabled = kind === 'multires';
      this.nMels.input.disabled = kind === 'spectrogram';
      this.nMfcc.input.disabled = kind !== 'mfcc';
    }

    /** The FeatureConfig fields of the current controls. */
    config() {
      const nMels = Number(this.nMels.input.value);
      return Object.assign({}, this.defaults.feature, {
        kind: this.kind.input.value, sample_rate: this.rate, n_fft: this.windows.n_fft,
        spectrogram_n_fft: this.windows.spectrogram_n_fft, hop_length: Number(this.hop.input.value),
        n_mels: nMels, n_mfcc: Math.min(Number(this.nMfcc.input.value), nMels), top_db: Number(this.topDb.input.value),
      });
    }

    draw() {
      const DSP = this.DSP, clip = this.clips[Number(this.clip.input.value)], cfg = this.config();
      for (const other of this.clips) if (other !== clip) other.cache.clear();     // keep one clip's STFTs only
      const feature = DSP.computeFeature(clip.samples, cfg, clip.cache);
      const [vmin, vmax] = DSP.range(feature);
      const names = this.defaults.feature.kind_names || {};
      const size = feature.rows * feature.frames;
      const panels = [];
      for (let c = 0; c < feature.channels; c++) {
        const panel = { data: feature.data, offset: c * size, rows: feature.rows, frames: feature.frames };
        if (cfg.kind === 'spectrogram') {
          Object.assign(panel, { yLabel: 'frequency (Hz)', yTicks: binTicks(this.rate, cfg.spectrogram_n_fft),
            title: `${names.spectrogram || 'spectrogram'}: window ${cfg.spectrogram_n_fft}, ${feature.rows} bins` });
        } else if (cfg.kind === 'mfcc') {
          const step = feature.rows > 20 ? 10 : 5, ticks = [];
          for (let k = 0; k < feature.rows; k += step) ticks.push([k, String(k)]);
          Object.assign(panel, { yLabel: 'coefficient', yTicks: ticks,
            title: `${cfg.n_mfcc} MFCCs of ${cfg.n_mels} mel bands, window ${cfg.n_fft}` });
        } else {
          const w = cfg.kind === 'multires' ? cfg.multires_windows[c] : cfg.n_fft;
          Object.assign(panel, { yLabel: 'frequency (Hz)', yTicks: melTicks(DSP, this.rate, cfg.n_mels, cfg.fmin, cfg.fmax),
            title: `${cfg.kind === 'multires' ? `channel ${c}: ` : ''}log-mel, ${cfg.n_mels} bands, window ${w} (${(1000 * w / this.rate).toFixed(0)} ms)` });
        }
        panels.push(panel);
      }
      drawGrid(this.canvas, { width: 760, height: feature.channels > 1 ? 560 : 340, cols: 1, panels, vmin, vmax,
        unit: cfg.kind === 'mfcc' ? 'value' : 'dB', secondsPerFrame: cfg.hop_length / this.rate });
      this.canvas.setAttribute('aria-label', `${names[cfg.kind] || cfg.kind} of ${clip.label}`);
      this.feature = feature;
      this.shownConfig = cfg;
      this.setAudio(clip.src);
      const shape = `${feature.channels > 1 ? `${feature.channels} x ` : ''}${feature.rows} x ${feature.frames}`;
      this.info.textContent = `${clip.label}${clip.name !== clip.label ? ` (${clip.name})` : ''}: ` +
        `${(clip.samples.length / this.rate).toFixed(2)} s at ${this.rate} Hz. ${names[cfg.kind] || cfg.kind}, hop ` +
        `${cfg.hop_length}: ${shape} (${feature.channels > 1 ? 'channels x ' : ''}rows x frames), ` +
        `values ${vmin.toFixed(1)} .. ${vmax.toFixed(1)}.`;
    }

    /** Decode a dropped or chosen file, add it to the clip list, select it and draw it. */
    async addFile(file) {
      this.status(`reading ${file.name} ...`);
      let samples;
      try {
        samples = await decodeFile(file, this.rate, this.defaults.feature.max_seconds);
      } catch (err) {
        this.status(`could not read ${file.name} as audio: ${(err && err.message) || err}`, true);
        return;
      }
      const index = this.clips.length;
      this.clips.push({ label: 'your file', name: file.name, samples, cache: new Map(), src: URL.createObjectURL(file) });
      this.clip.input.append(el('option', { value: String(index) }, `your file: ${file.name}`));
      this.clip.input.value = String(index);
      this.status(`${file.name}: ${(samples.length / this.rate).toFixed(2)} s (first ${this.defaults.feature.max_seconds} s at most), resampled to ${this.rate} Hz by the browser.`);
      this.redraw();
    }
  }

  // ----------------------------------------------------------------------------------- augmentation explorer
  class AugmentExplorer extends Explorer {
    constructor(DSP, root, config) {
      super(DSP, root, config);
      const a = this.defaults.augment;
      const n = Math.round(a.seconds * this.rate);
      // Peak-normalised centre crops of a.seconds (shorter clips tiled), as AugmentationExplorer.crop does.
      this.clips = config.clips.map((c) => {
        const clip = embeddedClip(DSP, c, this.rate);
        clip.crop = DSP.normalizeWave(DSP.centerCrop(clip.samples, n), 'peak');
        return clip;
      });
      if (this.clips.length < 2) throw new Error('the augmentation explorer needs at least two clips');
      this.featureConfig = Object.assign({}, this.defaults.feature, { kind: a.feature_kind, sample_rate: this.rate });
      this.features = new Map();

      const options = this.clips.map((c, i) => [i, c.label === c.name ? c.label : `${c.label}: ${c.name}`]);
      const seconds = (v) => Number(v).toFixed(2);
      this.clipA = selectControl('clip_a', 'clip A', options, 0);
      this.clipB = selectControl('clip_b', 'clip B', options, 1);
      this.lam = rangeControl('lambda', 'mixup weight of A', a.mixup_lambda_range, a.mixup_lambda, seconds);
      this.masking = selectControl('masking', 'masking', a.maskings.map((m) => [m, a.masking_names[m] || m]), a.masking);
      this.areaLo = rangeControl('erase_area_min', 'erased area from', a.erase_area_range, a.erase_area[0], seconds);
      this.areaHi = rangeControl('erase_area_max', 'to', a.erase_area_range, a.erase_area[1], seconds);
      this.aspectLo = rangeControl('erase_aspect_min', 'aspect from', a.erase_aspect_range, a.erase_aspect[0], fixed(1));
      this.aspectHi = rangeControl('erase_aspect_max', 'to', a.erase_aspect_range, a.erase_aspect[1], fixed(1));
      this.fill = selectControl('fill', 'fill', a.fills.map((f) => [f, f]), a.fill);
      this.freqMasks = rangeControl('freq_masks', 'frequency masks', a.freq_masks_range, a.freq_masks);
      this.freqWidth = rangeControl('freq_width', 'at most rows', a.freq_width_range, a.freq_width);
      this.timeMasks = rangeControl('time_masks', 'time masks', a.time_masks_range, a.time_masks);
      this.timeWidth = rangeControl('time_width', 'at most frames', a.time_width_range, a.time_width);
      this.seed = el('input', { type: 'number', min: 0, step: 1, value: a.seed, 'data-control': 'seed' });
      this.again = el('button', { type: 'button', 'data-control': 'new_draw' }, 'new random draw');

      // A range's lower end never passes its upper end.
      const pair = (lo, hi) => {
        lo.input.addEventListener('change', () => { if (Number(lo.input.value) > Number(hi.input.value)) { hi.input.value = lo.input.value; hi.show(); } });
        hi.input.addEventListener('change', () => { if (Number(hi.input.value) < Number(lo.input.value)) { lo.input.value = hi.input.value; lo.show(); } });
      };
      pair(this.areaLo, this.areaHi);
      pair(this.aspectLo, this.aspectHi);
      this.masking.input.addEventListener('change', () => this.syncControls());
      this.again.addEventListener('click', () => {
        this.seed.value = String((Number(this.seed.value) || 0) + 1);
        this.redraw();
      });
      this.listen(this.clipA.input, this.clipB.input, this.lam.input, this.masking.input, this.areaLo.input,
        this.areaHi.input, this.aspectLo.input, this.aspectHi.input, this.fill.input, this.freqMasks.input,
        this.freqWidth.input, this.timeMasks.input, this.timeWidth.input, this.seed);

      root.append(
        el('div', { class: 'atx-controls' }, this.clipA.wrap, this.clipB.wrap, this.lam.wrap, this.masking.wrap,
          this.fill.wrap, el('label', { class: 'atx-control' }, el('span', {}, 'seed'), this.seed), this.again),
        el('div', { class: 'atx-controls' }, this.areaLo.wrap, this.areaHi.wrap, this.aspectLo.wrap, this.aspectHi.wrap),
        el('div', { class: 'atx-controls' }, this.freqMasks.wrap, this.freqWidth.wrap, this.timeMasks.wrap, this.timeWidth.wrap),
        el('div', { class: 'atx-row' }, el('span', {}, 'the mixed waveform:'), this.player),
        this.info, this.canvas, this.statusLine);
      this.syncControls();
      this.redraw();
    }

    syncControls() {
      const m = this.masking.input.value;
      const erasing = m === 'erasing' || m === 'both', spec = m === 'specaugment' || m === 'both';
      for (const c of [this.areaLo, this.areaHi, this.aspectLo, this.aspectHi]) c.input.disabled = !erasing;
      for (const c of [this.freqMasks, this.freqWidth, this.timeMasks, this.timeWidth]) c.input.disabled = !spec;
      this.fill.input.disabled = this.seed.disabled = this.again.disabled = m === 'none';
    }

    /** The standardised log-mel of clip i (cached: it depends on the clip only). */
    featureOf(i) {
      if (!this.features.has(i)) {
        const raw = this.DSP.computeFeature(this.clips[i].crop, this.featureConfig);
        this.features.set(i, this.DSP.standardize(raw, this.defaults.augment.standardize));
      }
      return this.features.get(i);
    }

    draw() {
      const DSP = this.DSP, a = this.defaults.augment;
      const ia = Number(this.clipA.input.value), ib = Number(this.clipB.input.value);
      const lam = Number(this.lam.input.value);
      const fa = this.featureOf(ia), fb = this.featureOf(ib);
      const mixed = DSP.mixFeatures(fa, fb, lam);
      const { rows, frames } = mixed;
      const m = this.masking.input.value;
      const seed = Math.max(0, Math.floor(Number(this.seed.value) || 0));
      const rng = DSP.mulberry32(seed);
      // SpecAugment before erasing, the order of audiotag.augment.Augmenter.
      const masks = m === 'specaugment' || m === 'both'
        ? DSP.sampleSpecAugment(rng, rows, frames, Number(this.freqMasks.input.value), Number(this.freqWidth.input.value),
          Number(this.timeMasks.input.value), Number(this.timeWidth.input.value))
        : null;
      const box = m === 'erasing' || m === 'both'
        ? DSP.sampleErasingBox(rng, rows, frames, [Number(this.areaLo.input.value), Number(this.areaHi.input.value)],
          [Number(this.aspectLo.input.value), Number(this.aspectHi.input.value)], a.erase_attempts)
        : null;
      const masked = box || masks ? DSP.applyMask(mixed, DSP.maskOf(rows, frames, box, masks), this.fill.input.value, rng) : mixed;

      let vmin = Infinity, vmax = -Infinity;
      for (const f of [fa, fb, mixed, masked]) { const [lo, hi] = DSP.range(f); vmin = Math.min(vmin, lo); vmax = Math.max(vmax, hi); }
      const A = this.clips[ia], B = this.clips[ib];
      const ticks = melTicks(DSP, this.rate, rows, this.featureConfig.fmin, this.featureConfig.fmax);
      const panel = (f, title) => ({ data: f.data, rows, frames, title, yLabel: 'frequency (Hz)', yTicks: ticks });
      const what = { erasing: 'random erasing', specaugment: 'SpecAugment masks', both: 'SpecAugment + erasing', none: 'no masking' }[m];
      drawGrid(this.canvas, { width: 760, height: 500, cols: 2, vmin, vmax, unit: 'std', secondsPerFrame: this.featureConfig.hop_length / this.rate,
        panels: [panel(fa, `A: ${A.label}`), panel(fb, `B: ${B.label}`),
          panel(mixed, `mix: ${lam.toFixed(2)} A + ${(1 - lam).toFixed(2)} B`), panel(masked, `mix after ${what} (seed ${seed})`)] });
      this.canvas.setAttribute('aria-label', `standardised log-mels of ${A.label}, ${B.label}, their mix and the masked mix`);

      const key = `${ia}|${ib}|${lam}`;
      if (this.mixKey !== key) {
        this.mixKey = key;
        this.mixedWave = DSP.mix(A.crop, B.crop, lam);
        this.setAudio(URL.createObjectURL(new Blob([DSP.encodeWav(this.mixedWave, this.rate)], { type: 'audio/wav' })));
      }
      this.shown = { a: fa, b: fb, mixed, masked, box, masks, seed };
      const target = A.label === B.label ? `1.00 ${A.label}` : `${lam.toFixed(2)} ${A.label} + ${(1 - lam).toFixed(2)} ${B.label}`;
      const parts = [`Soft target of the mix: ${target}.`];
      if (box) parts.push(`Erased rows ${box.top}-${box.top + box.height - 1}, frames ${box.left}-${box.left + box.width - 1}.`);
      else if (m === 'erasing' || m === 'both') parts.push('No erasing rectangle fitted.');
      if (masks) parts.push(`Masked ${masks.freq.map(([s, w]) => `${w} rows from ${s}`).concat(masks.time.map(([s, w]) => `${w} frames from ${s}`)).join(', ') || 'nothing'}.`);
      parts.push('The network is trained on the mix of the standardised log-mels (shown); you hear the mixed waveform.');
      this.info.textContent = parts.join(' ');
    }
  }

  // ------------------------------------------------------------------------------------------------------ start
  const KINDS = { feature: FeatureExplorer, augment: AugmentExplorer };

  /** Turn every not yet started explorer under `scope` (default: the document) into a live one. */
  function init(scope) {
    for (const root of (scope || document).querySelectorAll('div.audiotag-explorer')) {
      if (root.dataset.state) continue;
      root.dataset.state = 'starting';
      try {
        const DSP = window.AudiotagDSP;
        if (!DSP) throw new Error('dsp.js (AudiotagDSP) is not loaded');
        const Kind = KINDS[root.dataset.kind];
        if (!Kind) throw new Error(`unknown explorer kind "${root.dataset.kind}"`);
        const source = root.querySelector('script[type="application/json"]');
        if (!source) throw new Error('the explorer has no embedded configuration');
        for (const note of root.querySelectorAll('.audiotag-explorer-fallback')) note.remove();
        root.audiotagExplorer = new Kind(DSP, root, JSON.parse(source.textContent));
        root.dataset.state = 'ready';
      } catch (err) {
        root.dataset.state = 'error';
        root.append(el('div', { class: 'atx-status atx-error' }, `This explorer could not start: ${err.message || err}`));
        console.error('audiotag explorer:', err);
      }
    }
  }

  window.AudiotagExplorers = { init, drawGrid, FeatureExplorer, AugmentExplorer, viridis: LUT };
  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', () => init());
  else init();
})();
