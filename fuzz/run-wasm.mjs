// Runs the wasm32-wasip1 build of fuzz-corpus under node's WASI (V8), the corpus directory
// mounted at /corpus: `node fuzz/run-wasm.mjs fuzz-corpus.wasm fuzz/corpus`.
import { readFile } from 'node:fs/promises';
import { WASI } from 'node:wasi';
import process from 'node:process';

const [wasmPath, corpusDir] = process.argv.slice(2);
const wasi = new WASI({
  version: 'preview1',
  args: ['fuzz-corpus', 'digest', '/corpus'],
  env: {},
  preopens: { '/corpus': corpusDir },
  returnOnExit: true,
});
const module = await WebAssembly.compile(await readFile(wasmPath));
const instance = await WebAssembly.instantiate(module, wasi.getImportObject());
process.exitCode = wasi.start(instance);
