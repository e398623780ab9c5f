// -o null: the whole conversion runs (a test of it, or a benchmark) and its disks are thrown away.
import type { OutputDriver } from "./output.js";

export const nullOutput: OutputDriver = {
  kind: "null",
  discards: true,
  async diskDir() {
    return undefined;
  },
  async checkFree() {},
  async publish() {
    return [];
  },
};
