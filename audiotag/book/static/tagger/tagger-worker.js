/*
 * tagger-worker.js - the book's in-page tagger, off the main thread (a classic Web Worker; plain ES2017).
 *
 * tagger.js starts this worker when the reader clicks "Load the networks" and sends it messages:
 *
 *   {type: "load", manifestUrl}          load _static/vendor/tagger/tagger.json, onnxruntime-web's WebAssembly
 *                                        and every fold's .onnx file (all from this site, nothing from elsewhere)
 *   {type: "tag", id, wave, sampleRate}  score one clip: `wave` a mono Float32Array at `sampleRate` Hz
 *
 * and gets back {type: "progress", phase, done, total, id?}, {type: "ready", info}, {type: "result", id, result} or
 * {type: "error", phase, id?, message}.
 *
 * A clip is scored the way `audiotag predict` scores it (audiotag/inference/tagging.py, predictor.py,
 * training/bank.py, training/validation.py), with the numerics of AudiotagDSP (explorers/dsp.js):
 *
 *   1. the wave is resampled to each network's rate (AudiotagDSP.resample = audio.resample);
 *   2. the clip item (InputPipeline.clip_item): the waveform, or the dB feature of the whole clip;
 *   3. crops at ClipBank.window_crops / center_crops' starts, short clips repeated or padded (ClipBank._gather);
 *   4. batches of crops through each fold's ONNX model, which holds the per-crop normalisation, standardisation,
 *      resizing and the softmax, so its output is probabilities (batch x classes);
 *   5. a fold's probabilities are the mean over its windows, a network's the mean over its folds, and the networks
 *      are combined with equal weight (ensembles.arithmetic_mean: the mean, then divided by its sum).
 */
'use strict';

/** The site's _static/ folder: this file is _static/tagger/tagger-worker.js. */
const BASE = new URL('../', self.location.href).href;
const RUNTIME_DIR = BASE + 'vendor/onnxruntime-web/';
/** onnxruntime-web's WebAssembly build that ort.wasm.min.js uses (single-threaded here, SIMD). */
const RUNTIME_WASM = 'ort-wasm-simd-threaded.wasm';
/** Crops per ONNX run. */
const BATCH = 8;
const FORMAT = 'audiotag-page-models/1';

let DSP = null;
let state = null;           // {manifest, manifestUrl, networks: [{spec, inputShape, folds: [{fold, session}]}]}

self.onmessage = (event) => {
  const msg = event.data;
  if (msg.type === 'load') load(msg.manifestUrl).catch((err) => fail('load', null, err));
  else if (msg.type === 'tag') tag(msg).catch((err) => fail('tag', msg.id, err));
};

function fail(phase, id, err) {
  const message = err && err.message ? err.message : String(err);
  self.postMessage({ type: 'error', phase, id, message });
}

function progress(phase, done, total, id) {
  self.postMessage({ type: 'progress', phase, done, total, id });
}

// ------------------------------------------------------------------------------------------------------- loading
/**
 * The bytes at `url` (a Uint8Array), reporting each chunk's size to onBytes as it arrives (and the announced size,
 * Content-Length, to onSize when there is one).
 */
async function fetchBytes(url, onBytes, onSize) {
  let response;
  try {
    response = await fetch(url);
  } catch (err) {
    throw new Error(`could not fetch ${url} (${err.message})`);
  }
  if (!response.ok) throw new Error(`could not fetch ${url} (HTTP ${response.status})`);
  const announced = Number(response.headers.get('Content-Length'));
  if (onSize && announced > 0) onSize(announced);
  if (!response.body || !response.body.getReader) {
    const bytes = new Uint8Array(await response.arrayBuffer());
    onBytes(bytes.length);
    return bytes;
  }
  const reader = response.body.getReader();
  const chunks = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    chunks.push(value);
    size += value.length;
    onBytes(value.length);
  }
  const bytes = new Uint8Array(size);
  let at = 0;
  for (const chunk of chunks) { bytes.set(chunk, at); at += chunk.length; }
  return bytes;
}

/** Refuse a manifest the page cannot honour, with the reason. */
function checkManifest(m) {
  if (!m || m.format !== FORMAT) throw new Error(`the manifest's format is ${m && m.format}, expected ${FORMAT}`);
  if (!Array.isArray(m.classes) || !m.classes.length) throw new Error('the manifest lists no classes');
  if (!Array.isArray(m.networks) || !m.networks.length) throw new Error('the manifest lists no networks');
  if (m.combine != null && m.combine !== 'mean') throw new Error(`combine ${m.combine} is not available in the page (only mean)`);
  const r = m.resampler, ours = DSP.RESAMPLER;
  if (r && (r.passband !== ours.passband || r.stopband !== ours.stopband || r.attenuation_db !== ours.attenuation_db)) {
    throw new Error(`the manifest's resampler ${JSON.stringify(r)} differs from the page's ${JSON.stringify(ours)}`);
  }
  for (const net of m.networks) {
    const problems = DSP.pageFeatureProblems(net.features);
    if (problems.length) throw new Error(`network ${net.name}: the page cannot compute ${problems.join('; ')}`);
    const waveform = net.features.kind === 'waveform';
    if ((net.input === 'waveform') !== waveform) throw new Error(`network ${net.name}: input ${net.input} but feature kind ${net.features.kind}`);
    if (!(net.crop >= 1) || !Array.isArray(net.folds) || !net.folds.length) throw new Error(`network ${net.name}: no crop or no folds`);
  }
}

/**
 * How a session takes its crops: {batch, fixed}: BATCH crops per run, or the model's own batch size when its input
 * has a fixed first axis (a last, smaller batch is then padded with zero crops whose rows are dropped). Refuses an
 * input that is not float32 or whose shape differs from the manifest's input_shape.
 */
function inputLayout(session, spec, file) {
  const meta = session.inputMetadata && session.inputMetadata[0];
  if (!meta || !meta.isTensor || !Array.isArray(meta.shape) || !meta.shape.length) return { batch: BATCH, fixed: false };
  if (meta.type && meta.type !== 'float32') throw new Error(`${file}: the model's input is ${meta.type}; the page feeds float32`);
  const expected = spec.input_shape;
  if (expected && (meta.shape.length !== expected.length + 1 ||
      expected.some((d, i) => typeof meta.shape[i + 1] === 'number' && meta.shape[i + 1] !== d))) {
    throw new Error(`${file}: the model takes ${meta.shape.join(' x ')}, the manifest says batch x ${expected.join(' x ')}`);
  }
  const first = meta.shape[0];
  return typeof first === 'number' && first > 0 ? { batch: first, fixed: true } : { batch: BATCH, fixed: false };
}

async function load(manifestUrl) {
  importScripts(BASE + 'explorers/dsp.js', RUNTIME_DIR + 'ort.wasm.min.js');
  DSP = self.AudiotagDSP;
  const ort = self.ort;
  ort.env.wasm.numThreads = 1;           // threads need cross-origin isolation, which a static site does not have
  ort.env.wasm.wasmPaths = RUNTIME_DIR;  // the runtime's .mjs glue is imported from here (same origin)

  const manifestBytes = await fetchBytes(manifestUrl, () => {});
  const manifest = JSON.parse(new TextDecoder().decode(manifestBytes));
  checkManifest(manifest);

  // Progress in bytes over the runtime's WebAssembly and every model file.
  const modelBytes = manifest.networks.reduce((s, n) => s + n.folds.reduce((t, f) => t + (f.bytes || 0), 0), 0);
  const runtimeBytes = (manifest.bytes && manifest.bytes.runtime) || 0;
  let total = modelBytes + runtimeBytes;
  let loaded = 0;
  const onBytes = (n) => { loaded += n; progress('load', Math.min(loaded, total), total); };
  progress('load', 0, total);

  // The WebAssembly binary is fetched here (with progress) and handed to the runtime, which then fetches nothing else
  // but its small .mjs glue.
  ort.env.wasm.wasmBinary = (await fetchBytes(RUNTIME_DIR + RUNTIME_WASM, onBytes,
    (size) => { if (!runtimeBytes) total += size; })).buffer;   // a manifest without runtime bytes: the file's size

  const networks = [];
  for (const spec of manifest.networks) {
    const folds = [];
    for (const f of spec.folds) {
      const url = new URL(f.file, manifestUrl).href;
      const bytes = await fetchBytes(url, onBytes);
      let session;
      try {
        session = await ort.InferenceSession.create(bytes, { executionProviders: ['wasm'], graphOptimizationLevel: 'all' });
      } catch (err) {
        throw new Error(`${f.file}: onnxruntime could not load it (${err.message || err})`);
      }
      folds.push(Object.assign({ fold: f.fold, session }, inputLayout(session, spec, f.file)));
    }
    networks.push({ spec, folds });
  }
  state = { manifest, manifestUrl, networks };
  progress('load', total, total);
  self.postMessage({
    type: 'ready',
    info: {
      classes: manifest.classes,
      clips: manifest.clips || [],
      networks: manifest.networks.map((n) => ({ name: n.name, title: n.title || n.name, folds: n.folds.length,
        sample_rate: n.features.sample_rate, crop_seconds: n.crop_seconds })),
    },
  });
}

// ------------------------------------------------------------------------------------------------------ tagging
/** Seconds per bank unit of a network: one sample, or one STFT hop. */
function unitSeconds(spec) {
  const f = spec.features;
  return (f.kind === 'waveform' ? 1 : f.hop_length) / f.sample_rate;
}

/** A log-mel of the clip for the page to draw: 64 mels, about 1000 frames at most. {rows, frames, data, hop_s}. */
function displaySpectrogram(wave, rate) {
  const nFft = rate >= 22050 ? 1024 : 512;
  const hop = Math.max(nFft / 4, Math.ceil(wave.length / 1000));
  const cfg = { kind: 'logmel', sample_rate: rate, n_fft: nFft, hop_length: hop, n_mels: 64, n_mfcc: 20, top_db: 80,
    spectrogram_n_fft: null, multires_windows: [nFft], normalize: 'peak', fmin: 0, fmax: null };
  const f = DSP.computeFeature(wave, cfg);
  return { rows: f.rows, frames: f.frames, data: Float32Array.from(f.data), hop_s: hop / rate };
}

/** Probabilities (rows of n classes) of `count` crops through one fold's session, `fold.batch` crops per run. */
async function scoreCrops(fold, crops, count, inputShape, nClasses, onBatch) {
  const ort = self.ort, session = fold.session;
  const per = inputShape.reduce((a, b) => a * b, 1);
  const rows = [];
  for (let b = 0; b < count; b += fold.batch) {
    const size = Math.min(fold.batch, count - b);
    const runSize = fold.fixed ? fold.batch : size;
    const data = new Float32Array(runSize * per);             // zero crops pad a fixed batch
    data.set(crops.subarray(b * per, (b + size) * per));
    const input = new ort.Tensor('float32', data, [runSize].concat(inputShape));
    const outputs = await session.run({ [session.inputNames[0]]: input });
    const probs = outputs[session.outputNames[0]].data;
    if (probs.length !== runSize * nClasses) throw new Error(`the model gave ${probs.length} numbers for ${runSize} crops of ${nClasses} classes`);
    for (let i = 0; i < size; i++) {
      const row = Array.from(probs.subarray(i * nClasses, (i + 1) * nClasses));
      const sum = row.reduce((s, p) => s + p, 0);
      if (!(Math.abs(sum - 1) < 1e-2)) throw new Error(`the model's output is not probabilities (a row sums to ${sum})`);
      rows.push(row);
    }
    input.dispose && input.dispose();
    onBatch(size);
  }
  return rows;
}

async function tag({ id, wave, sampleRate }) {
  if (!state) throw new Error('the networks are not loaded');
  const { manifest, networks } = state;
  const nClasses = manifest.classes.length;
  const t0 = performance.now();

  // Items and windows of every network first, so that progress counts all the crops to score.
  const waves = new Map();                                   // one resampling per rate
  const plans = networks.map((net) => {
    const spec = net.spec, rate = spec.features.sample_rate;
    if (!waves.has(rate)) waves.set(rate, DSP.resample(wave, sampleRate, rate));
    const item = DSP.clipItem(waves.get(rate), spec.features);
    const inference = spec.inference || {};
    const starts = DSP.windowStarts(item.length, spec.crop, inference);
    const inputShape = spec.input_shape || item.shape.concat([spec.crop]);
    const per = inputShape.reduce((a, b) => a * b, 1);
    if (per !== item.depth * spec.crop) {
      throw new Error(`network ${spec.name}: a crop has ${item.depth} x ${spec.crop} values but the model takes ${inputShape.join(' x ')}`);
    }
    const crops = DSP.gatherCrops(item.data, item.depth, item.length, starts, spec.crop, inference.short_clip || 'repeat');
    return { net, starts, crops, inputShape };
  });
  const total = plans.reduce((s, p) => s + p.starts.length * p.net.folds.length, 0);
  let done = 0;
  progress('tag', 0, total, id);

  const results = {};
  const networkProbs = [];
  for (const { net, starts, crops, inputShape } of plans) {
    const foldProbs = [];
    for (const fold of net.folds) {
      const rows = await scoreCrops(fold, crops, starts.length, inputShape, nClasses, (n) => {
        done += n;
        progress('tag', done, total, id);
      });
      foldProbs.push(DSP.meanOf(rows));                       // a fold's clip probabilities: mean over windows
    }
    const probs = DSP.meanOf(foldProbs);                      // a network's: mean over its folds
    networkProbs.push(probs);
    const unit = unitSeconds(net.spec);
    results[net.spec.name] = {
      title: net.spec.title || net.spec.name,
      probs: Array.from(probs),
      folds: foldProbs.map((p) => Array.from(p)),
      starts,
      crop: net.spec.crop,
      sample_rate: net.spec.features.sample_rate,
      windows_s: starts.map((s) => [s * unit, (s + net.spec.crop) * unit]),
    };
  }
  const combined = DSP.combineMean(networkProbs);            // networks with equal weight, then divided by the sum
  const top = DSP.topIndices(combined, Math.min(3, nClasses)).map((i) => ({ label: manifest.classes[i], index: i,
    probability: combined[i] }));
  const scoring_s = (performance.now() - t0) / 1000;
  const firstRate = networks[0].spec.features.sample_rate;
  const spectrogram = displaySpectrogram(waves.get(firstRate), firstRate);
  self.postMessage({ type: 'result', id, result: { probs: Array.from(combined), networks: results, top, scoring_s,
    spectrogram } }, [spectrogram.data.buffer]);
}
