// The size floor (bench/floor): a wasm-bindgen module that only writes a key,
// sends one fetch and writes the outcome. Built by bench/run.mjs into bench/.tmp.
export { default as init, send, settle } from '../.tmp/floor-pkg/payonce_size_floor.js';
