import { defineConfig } from "tsup";

// Built only so that plain Node scripts (scripts/build-sample.mjs, the benchmarks) can use the zoo;
// tests and type checks read src/ directly.
export default defineConfig({
  entry: ["src/index.ts"],
  format: ["esm"],
  target: "node20",
  dts: false,
  clean: true,
  sourcemap: true,
});
