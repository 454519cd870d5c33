#!/usr/bin/env node
// Converts the MobileNetV2 that npm's nsfwjs ships as two JavaScript modules
// (model.min.js exports the Keras layers-model JSON as an object literal,
// group1-shard1of1.min.js exports the weight shard as one base64 string) into the
// standard TensorFlow.js layout: model.json + weights.bin. The workbench's loader
// reads only the standard layout, so users can bring their own TFJS models too.
//
// usage: node convert-nsfwjs.js <package-dir>/dist/models/mobilenet_v2 <out-dir>
'use strict';
const fs = require('fs');
const path = require('path');

const [srcDir, outDir] = process.argv.slice(2);
if (!srcDir || !outDir) {
  console.error('usage: convert-nsfwjs.js SRC_DIR OUT_DIR');
  process.exit(2);
}
const model = require(path.resolve(srcDir, 'model.min.js'));
if (!model || !model.modelTopology || !Array.isArray(model.weightsManifest)) {
  console.error(`${srcDir}/model.min.js: not a TFJS layers-model export`);
  process.exit(1);
}
const buffers = [];
const weights = [];
for (const group of model.weightsManifest) {
  for (const p of group.paths) {
    const shard = require(path.resolve(srcDir, p + '.min.js'));
    if (typeof shard !== 'string') {
      console.error(`${srcDir}/${p}.min.js: expected a base64 string export`);
      process.exit(1);
    }
    buffers.push(Buffer.from(shard, 'base64'));
  }
  weights.push(...group.weights);
}
const bin = Buffer.concat(buffers);
fs.mkdirSync(outDir, { recursive: true });
const out = {
  format: 'layers-model',
  generatedBy: 'nsfwjs 4.4.0 (npm), converted by ProtoQuant Workbench',
  convertedBy: 'datasets/convert-nsfwjs.js',
  modelTopology: model.modelTopology,
  weightsManifest: [{ paths: ['weights.bin'], weights }],
};
// Write atomically: temp file then rename.
const tmpJson = path.join(outDir, 'model.json.tmp');
const tmpBin = path.join(outDir, 'weights.bin.tmp');
fs.writeFileSync(tmpBin, bin);
fs.writeFileSync(tmpJson, JSON.stringify(out));
fs.renameSync(tmpBin, path.join(outDir, 'weights.bin'));
fs.renameSync(tmpJson, path.join(outDir, 'model.json'));
console.log(`converted ${weights.length} tensors (${bin.length} bytes) into ${outDir}`);
