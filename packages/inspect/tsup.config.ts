import { defineConfig } from "tsup";

export default defineConfig({
  entry: ["src/index.ts", "src/ssh.ts"],
  format: ["esm"],
  target: "node20",
  dts: true,
  clean: true,
  sourcemap: true,
});
