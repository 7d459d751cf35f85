// Preloaded into every node process of the lab guest (NODE_OPTIONS="--require ...", set by lab/host/guest.ts).
//
// Why: under qemu TCG with two vCPUs, node now and then died of SIGSEGV while starting (CI, the agent, the
// wizard fault child, the browser suite's dashboard). Core dumps taken in the guest (gdb on /tmp/cores, two of
// two) showed the same thing: the fault in WebAssembly code, on the thread that runs tsx's loader hooks, which
// parses every module with es-module-lexer (a wasm module); a third start failed with "RuntimeError: memory
// access out of bounds" in that same wasm function. V8 compiles wasm lazily and tiers hot functions up to
// TurboFan on background threads, patching the module's jump table while other threads execute it; on a real
// CPU that is safe, under the emulator's multi-threaded translation it is not, now and then.
// Measured in the guest, 3 starts at a time: a lexer-only reproducer crashed 2 of 120 times without these
// flags, 0 of 120 with them; the real agent 2 of 45 without.
//
// With them every wasm function is compiled once, by Liftoff, before the module runs: nothing is patched
// while it runs. Lab only: the product on a real machine keeps V8's defaults.
const v8 = require("node:v8");
for (const flag of ["--no-wasm-lazy-compilation", "--no-wasm-tier-up", "--no-wasm-dynamic-tiering"]) {
  v8.setFlagsFromString(flag);
}
