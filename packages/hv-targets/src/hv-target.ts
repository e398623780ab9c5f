// A hypervisor the guest goes to: how the guest's new virtual hardware is described (the domain
// its management layer runs). One driver per target (targets/*.ts), all behind this interface.
import type { GuestCapabilities } from "@leapp/guestos";
import type { Source, TargetDisk } from "./types.js";

export interface ConfigureContext {
  source: Source;
  name: string;
  disks: readonly TargetDisk[];
  /** What the converted guest drives; undefined when no OS was found (the source's hardware is kept). */
  capabilities: GuestCapabilities | undefined;
  /** libvirt domain type: kvm (default) or qemu (TCG). */
  domainType?: "kvm" | "qemu";
}

export interface HVTarget {
  readonly hypervisor: "kvm";
  /** The domain that runs the converted guest, from the source's metadata and what the guest can drive. */
  configure(context: ConfigureContext): string;
}
