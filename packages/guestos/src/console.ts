// Login prompts on the Xen console (hvc0, xvc0) move to the first serial port with it: inittab
// gettys, upstart jobs, systemd getty instances, and securetty so root may log in there.
import type { InspectionReport } from "@leapp/inspect";
import { mapLines, type PlanWorkspace } from "./workspace.js";

const WHY = "the Xen console is gone on KVM: the login prompt moves to the serial console ttyS0";

async function list(ws: PlanWorkspace, dir: string): Promise<string[]> {
  try {
    return (await ws.guest.readdir(dir)).slice(0, 10_000);
  } catch {
    return [];
  }
}

export async function planConsole(ws: PlanWorkspace, report: InspectionReport): Promise<void> {
  // id:runlevels:action:process — only the process changes (an id has at most 4 characters).
  await ws.edit("/etc/inittab", WHY, (t) =>
    mapLines(t, (line) => {
      const m = /^([^#:][^:]*:[^:]*:[^:]*:)(.*)$/.exec(line);
      if (!m || !/\b(hvc0|xvc0)\b/.test(m[2] as string)) return line;
      return `${m[1]}${(m[2] as string).replace(/\b(hvc0|xvc0)\b/g, "ttyS0").replace(/\b(9600|38400)\b/, "115200")}`;
    }),
  );
  const securetty = await ws.read("/etc/securetty");
  if (securetty !== undefined && !/^ttyS0\s*$/m.test(securetty)) {
    await ws.edit("/etc/securetty", "root may log in on the serial console", (t) => `${t}${t.endsWith("\n") || t === "" ? "" : "\n"}ttyS0\n`);
  }
  // upstart (RHEL 6, Ubuntu ≤ 14.04): a job per console.
  for (const name of await list(ws, "/etc/init")) {
    if (!name.endsWith(".conf")) continue;
    const path = `/etc/init/${name}`;
    const text = await ws.read(path);
    if (text === undefined || !/^\s*(exec|respawn).*\b(hvc0|xvc0)\b/m.test(text)) continue;
    if (/^(hvc0|xvc0)\.conf$/.test(name)) {
      const target = "/etc/init/ttyS0.conf";
      if ((await ws.read(target)) === undefined) {
        await ws.write(target, text.replace(/\b(hvc0|xvc0)\b/g, "ttyS0"), WHY);
        ws.add({ kind: "remove", path, why: WHY });
      }
    } else {
      await ws.edit(path, WHY, (t) => t.replace(/\b(hvc0|xvc0)\b/g, "ttyS0"));
    }
  }
  // systemd: an enabled getty instance on the Xen console.
  if (report.init.type === "systemd") {
    const wants = "/etc/systemd/system/getty.target.wants";
    for (const name of await list(ws, wants)) {
      const m = /^(serial-getty|getty)@(hvc0|xvc0)\.service$/.exec(name);
      if (!m) continue;
      ws.add({ kind: "remove", path: `${wants}/${name}`, why: WHY });
      const unitDir = (await ws.guest.exists("/usr/lib/systemd/system/serial-getty@.service")) ? "/usr/lib/systemd/system" : "/lib/systemd/system";
      if (!(await list(ws, wants)).includes("serial-getty@ttyS0.service")) ws.add({ kind: "symlink", path: `${wants}/serial-getty@ttyS0.service`, target: `${unitDir}/serial-getty@.service`, why: WHY });
    }
  }
}
