// VirtualBox. The OS plan removes the Guest Additions packages and the ISO installs under /opt;
// Guest Additions installed elsewhere are found through the record their installer keeps.
import type { HVSource, UnconfigureContext } from "../hv-source.js";

const ADDITIONS_CONFIG = "/var/lib/VBoxGuestAdditions/config";

export const virtualboxSource: HVSource = {
  hypervisor: "virtualbox",
  defaultBus: "sata",
  describes: (metadata) => metadata.hypervisor === "vbox",
  leftTraces: (report) => report.hypervisorTools.some((t) => t.hypervisor === "virtualbox"),
  async unconfigure(context: UnconfigureContext) {
    const config = await context.changes.read(ADDITIONS_CONFIG);
    const dir = config === undefined ? undefined : /^INSTALL_DIR=['"]?(\/[^'"\n]*)['"]?\s*$/m.exec(config)?.[1];
    if (dir !== undefined && !dir.startsWith("/opt/VBoxGuestAdditions") && (await context.guest.exists(`${dir}/uninstall.sh`))) {
      context.warnings.push(`VirtualBox Guest Additions were installed in ${dir}: remove them after the first boot with ${dir}/uninstall.sh (their services are disabled already)`);
    }
  },
};
