// Runs the wasm32-wasip1 build of decision-loop under node's WASI (V8, the engine Envoy uses).
import { readFile } from 'node:fs/promises';
import { WASI } from 'node:wasi';
import process from 'node:process';

const wasmPath = process.argv[2];
const wasi = new WASI({ version: 'preview1', args: ['decision-loop'], env: {}, returnOnExit: true });
const module = await WebAssembly.compile(await readFile(wasmPath));
const instance = await WebAssembly.instantiate(module, wasi.getImportObject());
process.exitCode = wasi.start(instance);
