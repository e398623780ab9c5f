// The first-boot service: one script that runs the plan's first-boot actions once, on KVM, logs
// everything to /var/log/leapp-firstboot.log (kept), then removes itself and its service. A
// systemd unit on systemd guests, a SysV init script elsewhere (upstart runs those too).
import type { InspectionReport } from "@leapp/inspect";
import type { FirstBootAction } from "./plan-types.js";
import type { PlanWorkspace } from "./workspace.js";

export const FIRSTBOOT_SCRIPT = "/usr/local/sbin/leapp-firstboot";
export const FIRSTBOOT_LOG = "/var/log/leapp-firstboot.log";
const UNIT = "/etc/systemd/system/leapp-firstboot.service";
const WHY = "runs what only the converted guest itself can do, once, at its first boot on KVM";

function script(actions: FirstBootAction[], cleanup: string[]): string {
  const steps = actions.map((a, i) => [
    `# ${i + 1}. ${a.name}: ${a.why.replace(/\n/g, " ")}`,
    `echo "== $(date) ${a.name.replace(/["`$\\]/g, "")}"`,
    `( ${a.script} ) || echo "leapp-firstboot: '${a.name.replace(/['"`$\\]/g, "")}' failed (exit $?); the rest goes on"`,
  ].join("\n"));
  return [
    "#!/bin/sh",
    "# leapp first-boot actions after the conversion to KVM. Runs once, then removes itself;",
    `# its log stays in ${FIRSTBOOT_LOG}.`,
    "PATH=/usr/local/sbin:/usr/sbin:/sbin:/usr/local/bin:/usr/bin:/bin",
    "export PATH",
    `exec >>${FIRSTBOOT_LOG} 2>&1`,
    "",
    ...steps,
    "",
    "echo \"== $(date) done; removing the first-boot service\"",
    `echo "leapp-firstboot: done, log in ${FIRSTBOOT_LOG}" >/dev/console 2>/dev/null || true`,
    ...cleanup,
    `rm -f ${FIRSTBOOT_SCRIPT}`,
    "exit 0",
    "",
  ].join("\n");
}

/** Installs the runner for `actions` (nothing when there are none). */
export async function planFirstBoot(ws: PlanWorkspace, report: InspectionReport, actions: FirstBootAction[]): Promise<void> {
  if (actions.length === 0) return;
  if (report.init.type === "systemd") {
    const link = "/etc/systemd/system/multi-user.target.wants/leapp-firstboot.service";
    await ws.write(UNIT, [
      "[Unit]",
      "Description=leapp: finish the conversion to KVM (runs once)",
      "After=local-fs.target network.target",
      `ConditionPathExists=${FIRSTBOOT_SCRIPT}`,
      "",
      "[Service]",
      "Type=oneshot",
      `ExecStart=${FIRSTBOOT_SCRIPT}`,
      "TimeoutStartSec=30min",
      "",
      "[Install]",
      "WantedBy=multi-user.target",
      "",
    ].join("\n"), WHY);
    ws.add({ kind: "symlink", path: link, target: UNIT, why: WHY });
    await ws.write(FIRSTBOOT_SCRIPT, script(actions, [`rm -f ${link} ${UNIT}`]), WHY, 0o755);
    return;
  }
  const rcBase = (await ws.guest.exists("/etc/rc.d/init.d")) ? "/etc/rc.d" : "/etc";
  const initScript = `${rcBase}/init.d/leapp-firstboot`;
  const levels = ["2", "3", "4", "5"];
  const links = levels.map((l) => `${rcBase}/rc${l}.d/S99leapp-firstboot`);
  await ws.write(initScript, [
    "#!/bin/sh",
    "# chkconfig: 2345 99 01",
    "# description: leapp first-boot actions after the conversion to KVM (runs once)",
    "### BEGIN INIT INFO",
    "# Provides:          leapp-firstboot",
    "# Required-Start:    $local_fs $network",
    "# Required-Stop:",
    "# Default-Start:     2 3 4 5",
    "# Default-Stop:",
    "# Short-Description: leapp first-boot actions (runs once)",
    "### END INIT INFO",
    `[ "$1" = start ] || exit 0`,
    `[ -x ${FIRSTBOOT_SCRIPT} ] && ${FIRSTBOOT_SCRIPT}`,
    "exit 0",
    "",
  ].join("\n"), WHY, 0o755);
  for (const l of links) ws.add({ kind: "symlink", path: l, target: "../init.d/leapp-firstboot", why: WHY });
  await ws.write(FIRSTBOOT_SCRIPT, script(actions, [`rm -f ${links.join(" ")} ${initScript}`]), WHY, 0o755);
}
