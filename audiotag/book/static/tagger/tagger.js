/*
 * tagger.js - the book's in-page tagger: the reader's own sound, tagged by the book's networks in the browser.
 *
 * Loaded on every page (tiny; it does nothing unless the page holds a panel). The chapter writes
 *
 *   <div class="audiotag-tagger" data-manifest="../_static/vendor/tagger/tagger.json" data-bytes="25000000"></div>
 *
 * (data-manifest: the models' manifest, relative to the page; data-bytes: the download, models and runtime;
 * optional data-record-seconds: a recording limit below 10 s) and this script builds the panel inside it. Nothing is fetched until the reader clicks "Load the networks"; then a
 * Web Worker (tagger-worker.js) loads onnxruntime-web and the models from this site and does all the numerics. This
 * file decodes the audio (WAV parsed by AudiotagDSP.decodeWavFloat32, other formats by the browser at the file's
 * own rate where the header gives it), records the microphone, shows progress and draws the result.
 *
 * For tests, the panel element carries
 *   data-state     idle | loading | ready | recording | working | done | error
 *   data-runs      taggings finished (a result or an error), so a test can wait for the next one
 *   audiotagResult {file, label?, source (clip | file | microphone), decoder (wav | browser (flac) | ... |
 *                   microphone), note, duration_s, sample_rate (the file's own), seconds (wall time from handing the
 *                   wave to the worker to its result: resampling, features, networks), scoring_s (the same inside
 *                   the worker), decode_s (fetching and decoding before that), probs (combined, one per class),
 *                   networks: {name: {title, probs, folds: [[...] per fold], starts, crop, sample_rate,
 *                   windows_s}}, top: [{label, index, probability} x 3]}
 * and these children: .audiotag-tagger-load (button), .audiotag-tagger-clips (select), .audiotag-tagger-file (file
 * input), .audiotag-tagger-drop (drop zone), .audiotag-tagger-record / .audiotag-tagger-stop (buttons),
 * .audiotag-tagger-progress, .audiotag-tagger-status, .audiotag-tagger-error, .audiotag-tagger-result,
 * .audiotag-tagger-spectrogram (canvas). window.AudiotagTagger = {init() (panels added later), decode(bytes, name)}.
 */
(function () {
  'use strict';

  /** This site's _static/ folder, from this script's own URL (_static/tagger/tagger.js?v=...). */
  const BASE = document.currentScript && document.currentScript.src ? new URL('../', document.currentScript.src).href : null;
  const RECORD_SECONDS = 10;
  /** Longer clips are refused: the whole clip's STFT lives in memory (about 0.5 GB for 10 minutes at 44.1 kHz). */
  const MAX_SECONDS = 300;
  /** Colours of the networks' bars and windows (then the combined bar). */
  const COLOURS = ['#1f77b4', '#ff7f0e', '#2ca02c', '#9467bd'];
  const SERVE_HINT = 'The tagger needs the book served over HTTP: a page opened from a file cannot fetch the networks. ' +
    'Serve the site with  python -m http.server -d _build/html  and open http://localhost:8000/.';

  // ------------------------------------------------------------------------------------------------ helpers
  function el(tag, attrs, children) {
    const node = document.createElement(tag);
    Object.entries(attrs || {}).forEach(([k, v]) => {
      if (k === 'text') node.textContent = v;
      else if (k === 'hidden') node.hidden = v;
      else node.setAttribute(k, v);
    });
    (children || []).forEach((c) => node.append(c));
    return node;
  }

  /** A class name as the book prints it: Drawer_open_or_close -> Drawer open or close. */
  const readable = (label) => String(label).replace(/_/g, ' ');
  const mb = (bytes) => `${(bytes / 1e6).toFixed(bytes < 1e7 ? 1 : 0)} MB`;
  const pct = (p) => `${(100 * p).toFixed(1)} %`;

  /** AudiotagDSP in this page (the book loads explorers/dsp.js on every page; else it is loaded once here). */
  let dspPromise = null;
  function dsp() {
    if (window.AudiotagDSP && window.AudiotagDSP.decodeWavFloat32) return Promise.resolve(window.AudiotagDSP);
    if (!dspPromise) {
      dspPromise = new Promise((resolve, reject) => {
        const s = el('script', { src: BASE + 'explorers/dsp.js' });
        s.onload = () => resolve(window.AudiotagDSP);
        s.onerror = () => reject(new Error('could not load explorers/dsp.js'));
        document.head.append(s);
      });
    }
    return dspPromise;
  }

  /** An error whose message is shown as is (a file's name and the cause). */
  function audioError(name, reason) {
    const err = new Error(`${name}: ${reason}`);
    err.shown = true;
    return err;
  }

  // ----------------------------------------------------------------------------------------------- decoding
  /**
   * A browser decoding at `rate` Hz (decodeAudioData resamples to its context's rate): channels mixed to mono.
   * `int16`: the file holds integers of 16 bits or fewer, whose scaling is made libsndfile's (restoreInt16).
   */
  async function browserDecode(DSP, bytes, rate, int16) {
    const ctx = new OfflineAudioContext(1, 1, rate);
    const buffer = await ctx.decodeAudioData(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength));
    const channels = [];
    for (let c = 0; c < buffer.numberOfChannels; c++) {
      const x = buffer.getChannelData(c);
      channels.push(int16 ? DSP.restoreInt16(x) : x);            // 16-bit FLAC: int / 32768 like libsndfile
    }
    return DSP.mixChannels(channels);
  }

  /**
   * A file's bytes as load_audio reads them before resampling: {wave (Float32Array, mono), rate, decoder, note}.
   * Throws an error naming the file for anything that is not usable audio.
   */
  async function decode(bytes, name) {
    const DSP = await dsp();
    if (!bytes.length) throw audioError(name, 'empty file (0 bytes)');
    const kind = DSP.sniffAudio(bytes);
    let wave = null, rate = kind.sampleRate, decoder = kind.format, note = '', reason = '';
    if (kind.format === 'wav') {
      try {
        wave = DSP.decodeWavFloat32(bytes).samples;
      } catch (err) {
        reason = err.message;                                   // e.g. an encoding the parser does not read
      }
    }
    if (!wave) {
      const usable = rate && rate >= 3000 && rate <= 768000;    // OfflineAudioContext's range in Chromium
      if (!usable) {
        rate = 44100;
        note = 'decoded by the browser at 44.1 kHz (the page cannot read this format\'s own sample rate)';
      }
      try {
        wave = await browserDecode(DSP, bytes, rate, kind.format === 'flac' && kind.bits <= 16 && !note);
        decoder = `browser (${kind.format})`;
      } catch (err) {
        const why = reason || (err && err.message) || String(err);
        throw audioError(name, `not audio the browser can decode (${why})`);
      }
    }
    if (!wave.length) throw audioError(name, 'zero-length audio (no samples)');
    if (wave.length > MAX_SECONDS * rate) {
      throw audioError(name, `${(wave.length / rate / 60).toFixed(1)} minutes is more than the page tags ` +
        `(${MAX_SECONDS / 60} minutes): cut out the part to tag, or use audiotag predict`);
    }
    for (let i = 0; i < wave.length; i++) {
      if (!Number.isFinite(wave[i])) throw audioError(name, 'audio contains NaN or infinite samples');
    }
    return { wave, rate, decoder, note };
  }

  // ------------------------------------------------------------------------------------------------ recording
  /** An AudioWorklet that posts each block of the input, channels averaged in float32, to the page. */
  const RECORDER_WORKLET = `
    class AudiotagRecorder extends AudioWorkletProcessor {
      process(inputs) {
        const channels = inputs[0];
        if (channels && channels.length) {
          const out = new Float32Array(channels[0].length);
          for (const ch of channels) for (let i = 0; i < out.length; i++) out[i] += ch[i];
          if (channels.length > 1) for (let i = 0; i < out.length; i++) out[i] /= channels.length;
          this.port.postMessage(out, [out.buffer]);
        }
        return true;
      }
    }
    registerProcessor('audiotag-recorder', AudiotagRecorder);`;

  /**
   * Record the microphone at the audio context's own rate until stop() or `seconds`; onTick(seconds so far) after
   * each block, onFull() when the limit is reached. Resolves to a recorder {rate, stop(): Promise<Float32Array>}.
   */
  async function startRecording(seconds, onTick, onFull) {
    if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia || !window.AudioWorkletNode) {
      throw new Error('recording needs the page served from https:// or http://localhost, in a browser with microphone access');
    }
    let stream;
    try {
      stream = await navigator.mediaDevices.getUserMedia({
        audio: { echoCancellation: false, noiseSuppression: false, autoGainControl: false } });
    } catch (err) {
      throw new Error(`the microphone is not available (${err.message || err.name})`);
    }
    const ctx = new AudioContext();
    const url = URL.createObjectURL(new Blob([RECORDER_WORKLET], { type: 'application/javascript' }));
    try {
      await ctx.audioWorklet.addModule(url);
    } finally {
      URL.revokeObjectURL(url);
    }
    const limit = Math.round(seconds * ctx.sampleRate);
    const chunks = [];
    let count = 0, stopped = false;
    const source = ctx.createMediaStreamSource(stream);
    const node = new AudioWorkletNode(ctx, 'audiotag-recorder', { numberOfOutputs: 0 });
    node.port.onmessage = (e) => {
      if (stopped) return;
      chunks.push(e.data);
      count += e.data.length;
      onTick(Math.min(count, limit) / ctx.sampleRate);
      if (count >= limit) onFull();
    };
    source.connect(node);
    if (ctx.state === 'suspended') await ctx.resume();
    return {
      rate: ctx.sampleRate,
      async stop() {
        stopped = true;
        source.disconnect();
        node.port.onmessage = null;
        stream.getTracks().forEach((t) => t.stop());
        await ctx.close();
        const wave = new Float32Array(Math.min(count, limit));
        let at = 0;
        for (const c of chunks) {
          if (at >= wave.length) break;
          const part = c.subarray(0, wave.length - at);
          wave.set(part, at);
          at += part.length;
        }
        return wave;
      },
    };
  }

  // -------------------------------------------------------------------------------------------------- drawing
  /** An sRGB colour for v in [0, 1] (dark blue to yellow, viridis-like). */
  const STOPS = [[68, 1, 84], [59, 82, 139], [33, 145, 140], [94, 201, 98], [253, 231, 37]];
  function colour(v) {
    const x = Math.max(0, Math.min(1, v)) * (STOPS.length - 1);
    const i = Math.min(STOPS.length - 2, Math.floor(x)), f = x - i;
    return STOPS[i].map((a, k) => Math.round(a + f * (STOPS[i + 1][k] - a)));
  }

  /**
   * The clip's log-mel (64 mels) and, in a lane per network below it, the windows that network scored (a short
   * clip's windows run past its end: the clip was repeated or padded to fill them).
   */
  function drawSpectrogram(canvas, spec, result, networks) {
    const width = canvas.width, specHeight = 128;
    const lanes = networks.map((n) => result.networks[n.name].starts.length);
    const laneGap = 6, rowHeight = 5;
    const height = specHeight + lanes.reduce((s, k) => s + laneGap + k * rowHeight, 0) + 16;
    canvas.height = height;
    const g = canvas.getContext('2d');
    g.fillStyle = '#fff';
    g.fillRect(0, 0, width, height);
    // The spectrogram, low frequencies at the bottom, scaled over its own dB range.
    let lo = Infinity, hi = -Infinity;
    for (const v of spec.data) { if (v < lo) lo = v; if (v > hi) hi = v; }
    const image = g.createImageData(spec.frames, spec.rows);
    for (let r = 0; r < spec.rows; r++) {
      for (let t = 0; t < spec.frames; t++) {
        const [R, G, B] = colour((spec.data[r * spec.frames + t] - lo) / (hi - lo || 1));
        const o = ((spec.rows - 1 - r) * spec.frames + t) * 4;
        image.data[o] = R; image.data[o + 1] = G; image.data[o + 2] = B; image.data[o + 3] = 255;
      }
    }
    const off = el('canvas', { width: spec.frames, height: spec.rows });
    off.getContext('2d').putImageData(image, 0, 0);
    g.imageSmoothingEnabled = false;
    g.drawImage(off, 0, 0, width, specHeight);
    // Windows, in seconds over the clip's duration.
    const duration = result.duration_s;
    const x = (s) => (Math.min(s, duration) / duration) * width;
    let y = specHeight;
    networks.forEach((n, i) => {
      y += laneGap;
      g.fillStyle = g.strokeStyle = COLOURS[i % COLOURS.length];
      result.networks[n.name].windows_s.forEach(([a, b], w) => {
        g.fillRect(x(a), y + w * rowHeight, Math.max(1, x(b) - x(a)), rowHeight - 1);
      });
      y += lanes[i] * rowHeight;
    });
    g.fillStyle = '#333';
    g.font = '11px sans-serif';
    g.fillText('0 s', 2, height - 3);
    const end = `${duration.toFixed(2)} s`;
    g.fillText(end, width - g.measureText(end).width - 2, height - 3);
  }

  /** A labelled bar: name, a bar of width p, the value. */
  function bar(name, p, colourValue) {
    const fill = el('span', { class: 'audiotag-tagger-fill' });
    fill.style.width = `${Math.max(0, Math.min(1, p)) * 100}%`;
    fill.style.background = colourValue;
    return el('div', { class: 'audiotag-tagger-barrow' }, [
      el('span', { class: 'audiotag-tagger-barname', text: name }),
      el('span', { class: 'audiotag-tagger-bar' }, [fill]),
      el('span', { class: 'audiotag-tagger-value', text: pct(p) }),
    ]);
  }

  // ---------------------------------------------------------------------------------------------------- panel
  function setup(panel) {
    if (panel.dataset.state) return;                          // built already
    const bytes = Number(panel.dataset.bytes) || 0;
    // data-record-seconds (optional, at most 10): a shorter recording limit, e.g. for a test.
    const recordSeconds = Math.min(RECORD_SECONDS, Number(panel.dataset.recordSeconds) || RECORD_SECONDS);
    const ui = {
      load: el('button', { type: 'button', class: 'audiotag-tagger-load',
        text: `Load the networks${bytes ? ` (${mb(bytes)})` : ''}` }),
      progress: el('progress', { class: 'audiotag-tagger-progress', max: '1', value: '0', hidden: true }),
      status: el('span', { class: 'audiotag-tagger-status', 'aria-live': 'polite' }),
      clips: el('select', { class: 'audiotag-tagger-clips' }, [el('option', { value: '', text: 'choose a test clip' })]),
      file: el('input', { type: 'file', class: 'audiotag-tagger-file',
        accept: 'audio/*,.wav,.flac,.ogg,.oga,.opus,.mp3,.m4a,.aif,.aiff,.webm' }),
      record: el('button', { type: 'button', class: 'audiotag-tagger-record', text: `record (up to ${recordSeconds} s)` }),
      stop: el('button', { type: 'button', class: 'audiotag-tagger-stop', text: 'stop', hidden: true }),
      error: el('p', { class: 'audiotag-tagger-error', role: 'alert', hidden: true }),
      result: el('div', { class: 'audiotag-tagger-result', hidden: true }),
    };
    ui.drop = el('label', { class: 'audiotag-tagger-drop' }, [el('span', { text: 'drop a file of your own here, or ' }), ui.file]);
    ui.controls = el('div', { class: 'audiotag-tagger-controls', hidden: true }, [ui.clips, ui.drop, ui.record, ui.stop]);
    panel.replaceChildren(el('div', { class: 'audiotag-tagger-head' }, [ui.load, ui.progress, ui.status]), ui.controls,
      ui.error, ui.result);

    let worker = null, info = null, jobs = 0, recorder = null, playerUrl = null;
    let active = false;                                       // a recording or a tagging is under way
    const setState = (s) => { panel.dataset.state = s; };
    const busy = (on) => [ui.clips, ui.file, ui.record].forEach((c) => { c.disabled = on; });
    const showError = (text) => { ui.error.textContent = text; ui.error.hidden = !text; };
    const showProgress = (done, total, text) => {
      ui.progress.hidden = false;
      ui.progress.value = total ? done / total : 0;
      ui.status.textContent = text;
    };
    const finished = (s) => {
      active = false;
      setState(s);
      panel.dataset.runs = String(Number(panel.dataset.runs || 0) + 1);
      ui.progress.hidden = true;
      busy(false);
    };
    setState('idle');

    if (location.protocol === 'file:' || !BASE || typeof Worker === 'undefined' || typeof WebAssembly === 'undefined') {
      ui.load.disabled = true;
      showError(location.protocol === 'file:' || !BASE ? SERVE_HINT : 'This browser lacks Web Workers or WebAssembly, which the tagger needs.');
      setState('error');
      return;
    }

    // --- loading
    ui.load.addEventListener('click', () => {
      ui.load.disabled = true;
      showError('');
      setState('loading');
      showProgress(0, 1, 'loading the networks…');
      worker = new Worker(BASE + 'tagger/tagger-worker.js');
      worker.onmessage = (e) => onMessage(e.data);
      worker.onerror = (e) => {
        e.preventDefault();
        onMessage({ type: 'error', phase: info ? 'tag' : 'load', id: pending ? pending.id : undefined,
          message: `the tagger's worker failed (${e.message || 'no detail'})` });
      };
      worker.postMessage({ type: 'load', manifestUrl: new URL(panel.dataset.manifest, document.baseURI).href });
    });

    let pending = null;                                       // the tagging in progress: {id, name, ...}
    function onMessage(msg) {
      if (msg.type === 'progress' && msg.phase === 'load') {
        showProgress(msg.done, msg.total, `loading the networks: ${mb(msg.done)} of ${mb(msg.total)}`);
      } else if (msg.type === 'progress' && pending && msg.id === pending.id) {
        showProgress(msg.done, msg.total, `scoring ${pending.name}: ${msg.done} of ${msg.total} windows`);
      } else if (msg.type === 'ready') {
        info = msg.info;
        ui.load.hidden = true;
        ui.progress.hidden = true;
        ui.status.textContent = `${info.networks.map((n) => `${n.title} (${n.folds} fold${n.folds > 1 ? 's' : ''})`).join(' and ')} loaded.`;
        info.clips.forEach((c, i) => ui.clips.append(el('option', { value: String(i),
          text: `${readable(c.label)}: ${c.fname || c.file}${c.seconds ? ` (${Number(c.seconds).toFixed(1)} s)` : ''}` })));
        ui.clips.hidden = !info.clips.length;
        ui.controls.hidden = false;
        setState('ready');
      } else if (msg.type === 'result' && pending && msg.id === pending.id) {
        show(pending, msg.result);
      } else if (msg.type === 'error') {
        if (msg.phase === 'load' || !info) {
          worker.terminate();
          worker = null;
          ui.load.disabled = false;
          ui.load.textContent = `Try again${bytes ? ` (${mb(bytes)})` : ''}`;
          ui.progress.hidden = true;
          ui.status.textContent = '';
          showError(`The networks could not be loaded: ${msg.message}`);
          setState('error');
        } else if (!pending || msg.id === pending.id || msg.id === undefined) {
          showError(pending ? `${pending.name}: ${msg.message}` : msg.message);
          ui.result.hidden = true;
          pending = null;
          finished('error');
        }
      }
    }

    // --- tagging: decode here, score in the worker
    async function tagBytes(name, getBytes, extra) {
      if (active || !info) return;
      active = true;
      busy(true);
      showError('');
      setState('working');
      if (extra.source !== 'clip') ui.clips.value = '';
      showProgress(0, 1, `decoding ${name}…`);
      const t0 = performance.now();
      try {
        const bytes = await getBytes();
        const audio = await decode(bytes, name);
        play(new Blob([bytes]));
        send(name, audio, Object.assign({ decode_s: (performance.now() - t0) / 1000 }, extra));
      } catch (err) {
        showError(err.shown ? err.message : `${name}: ${err.message || err}`);
        ui.result.hidden = true;                              // an earlier result would look like this file's
        finished('error');
      }
    }

    function send(name, audio, extra) {
      jobs += 1;
      pending = Object.assign({ id: jobs, name, audio, t0: performance.now() }, extra);
      const wave = audio.wave;
      pending.samples = wave.length;                          // before the transfer empties `wave`
      worker.postMessage({ type: 'tag', id: jobs, wave, sampleRate: audio.rate }, [wave.buffer]);
    }

    function show(job, r) {
      pending = null;
      const result = {
        file: job.name, source: job.source || 'file', decoder: job.audio.decoder, note: job.audio.note || '',
        duration_s: job.samples / job.audio.rate, sample_rate: job.audio.rate,
        seconds: (performance.now() - job.t0) / 1000, scoring_s: r.scoring_s, decode_s: job.decode_s || 0,
        probs: r.probs, networks: r.networks, top: r.top,
      };
      if (job.label) result.label = job.label;
      panel.audiotagResult = result;
      const nets = info.networks;
      const summary = `${result.file}: ${result.duration_s.toFixed(2)} s at ${result.sample_rate} Hz` +
        `${result.label ? `, labelled ${readable(result.label)} in the test set` : ''}; scored in ${result.seconds.toFixed(2)} s` +
        `${result.note ? ` (${result.note})` : ''}.`;
      const list = el('ol', { class: 'audiotag-tagger-top' }, result.top.map((t) => el('li', {}, [
        el('div', { class: 'audiotag-tagger-label' }, [el('strong', { text: readable(t.label) }), ` ${pct(t.probability)}`]),
        el('div', { class: 'audiotag-tagger-bars' }, [bar('combined', t.probability, '#444')].concat(
          nets.map((n, i) => bar(n.title, result.networks[n.name].probs[t.index], COLOURS[i % COLOURS.length])))),
      ])));
      const canvas = el('canvas', { class: 'audiotag-tagger-spectrogram', width: '640', height: '160' });
      const legend = el('p', { class: 'audiotag-tagger-legend' }, [
        'Log-mel spectrogram of the clip; below it, the windows each network scored: '].concat(
        nets.map((n, i) => el('span', { style: `color:${COLOURS[i % COLOURS.length]}`,
          text: `${n.title} (${result.networks[n.name].starts.length} × ${n.crop_seconds ? `${n.crop_seconds} s` : `${result.networks[n.name].crop} units`})${i < nets.length - 1 ? ', ' : '.'}` }))));
      ui.result.replaceChildren(el('p', { class: 'audiotag-tagger-summary', text: summary }), list, canvas, legend);
      if (ui.player) ui.result.append(ui.player);
      ui.result.hidden = false;
      ui.status.textContent = '';
      drawSpectrogram(canvas, r.spectrogram, result, nets);
      finished('done');
    }

    /** An audio player of what was tagged (a local blob: URL). */
    function play(blob) {
      if (playerUrl) URL.revokeObjectURL(playerUrl);
      playerUrl = URL.createObjectURL(blob);
      ui.player = el('audio', { class: 'audiotag-tagger-player', controls: '', preload: 'none', src: playerUrl });
    }

    // --- the three sources: a test clip, a file (chosen or dropped), the microphone
    ui.clips.addEventListener('change', () => {
      const clip = info && info.clips[Number(ui.clips.value)];
      if (!clip || ui.clips.value === '') return;
      const url = new URL(clip.file, new URL(panel.dataset.manifest, document.baseURI)).href;
      tagBytes(clip.fname || clip.file, async () => {
        const response = await fetch(url);
        if (!response.ok) throw new Error(`could not fetch the clip (HTTP ${response.status})`);
        return new Uint8Array(await response.arrayBuffer());
      }, { source: 'clip', label: clip.label });
    });

    const tagFile = (file) => {
      if (file) tagBytes(file.name, async () => new Uint8Array(await file.arrayBuffer()), { source: 'file' });
    };
    ui.file.addEventListener('change', () => { tagFile(ui.file.files[0]); ui.file.value = ''; });
    ui.drop.addEventListener('dragover', (e) => { e.preventDefault(); ui.drop.classList.add('audiotag-tagger-over'); });
    ui.drop.addEventListener('dragleave', () => ui.drop.classList.remove('audiotag-tagger-over'));
    ui.drop.addEventListener('drop', (e) => {
      e.preventDefault();
      ui.drop.classList.remove('audiotag-tagger-over');
      if (ui.file.disabled) return;
      tagFile(e.dataTransfer && e.dataTransfer.files[0]);
    });

    ui.record.addEventListener('click', async () => {
      if (active || !info) return;
      active = true;
      busy(true);
      showError('');
      setState('recording');
      ui.clips.value = '';
      ui.status.textContent = 'asking for the microphone…';
      try {
        recorder = await startRecording(recordSeconds,
          (s) => { showProgress(s, recordSeconds, `recording: ${s.toFixed(1)} s of at most ${recordSeconds} s`); },
          () => stopRecording());
      } catch (err) {
        recorder = null;
        showError(err.message);
        finished('error');
        return;
      }
      ui.record.hidden = true;
      ui.stop.hidden = false;
    });

    let stopping = false;
    async function stopRecording() {
      if (!recorder || stopping) return;
      stopping = true;
      const rec = recorder;
      ui.stop.hidden = true;
      ui.record.hidden = false;
      const wave = await rec.stop();
      recorder = null;
      stopping = false;
      const name = `recording (${(wave.length / rec.rate).toFixed(1)} s)`;
      if (!wave.length) {
        showError(`${name}: zero-length audio (no samples)`);
        finished('error');
        return;
      }
      const DSP = await dsp();
      play(new Blob([DSP.encodeWav(wave, rec.rate)], { type: 'audio/wav' }));
      setState('working');
      send(name, { wave, rate: rec.rate, decoder: 'microphone', note: '' }, { source: 'microphone' });
    }
    ui.stop.addEventListener('click', stopRecording);
  }

  function init() {
    document.querySelectorAll('.audiotag-tagger').forEach(setup);
  }
  /** init(): build the panels of the page (again, for panels added later); decode(bytes, name): the decoding, for tests. */
  window.AudiotagTagger = { init, decode };
  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', init);
  else init();
})();
