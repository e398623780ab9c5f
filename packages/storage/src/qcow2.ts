import type { FormatDriver } from "./block-device.js";
import { StorageError } from "./errors.js";
import { probeQcow2 } from "./qcow2-format.js";

export const qcow2Driver: FormatDriver = {
  format: "qcow2",
  probe: (head) => probeQcow2(head),
  async open(path) {
    throw new StorageError("STORAGE_UNSUPPORTED", `${path}: qcow2 reading is not implemented yet`, { path });
  },
};
