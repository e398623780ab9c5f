// What a guest's inspection and files make of its container, per init system, over in-memory
// guests: a CentOS 6 upstart layout gets the LeApp prototype's treatment, a systemd guest its
// incompatible units (and their sockets) masked, and services' ports come from their own files.
import { describe, expect, it } from "vitest";
import type { EnabledService, InspectionReport } from "@leapp/inspect";
import { planInit } from "./adapt.js";
import { servicePorts } from "./ports.js";
import { memoryGuest, type MemoryNode } from "./testing.js";

const dir = (...paths: string[]): Record<string, MemoryNode> => Object.fromEntries(paths.map((p) => [p, { stat: { type: "directory" as const } }]));
const link = (target: string): MemoryNode => ({ stat: { type: "symlink" }, link: target });
const svc = (name: string, manager: EnabledService["manager"]): EnabledService => ({ name, manager, targets: [], atBoot: true });
function report(init: InspectionReport["init"], services: EnabledService[], packageFormat = "rpm"): InspectionReport {
  return { init, services, os: { packageFormat } } as unknown as InspectionReport;
}

describe("planInit", () => {
  it("gives a CentOS 6 upstart guest the prototype's treatment", async () => {
    const guest = memoryGuest(
      {
        ...dir("/", "/etc", "/etc/init", "/etc/rc.d", "/etc/rc.d/rc3.d", "/etc/rc.d/rc5.d", "/etc/sysconfig", "/sbin"),
        "/etc/rc.d/rc3.d/S08iptables": link("../init.d/iptables"),
        "/etc/rc.d/rc3.d/S10network": link("../init.d/network"),
        "/etc/rc.d/rc3.d/S55sshd": link("../init.d/sshd"),
        "/etc/rc.d/rc5.d/S26lvm2-monitor": link("../init.d/lvm2-monitor"),
      },
      {
        "/etc/inittab": "id:3:initdefault:\n",
        "/etc/init/rcS-emergency.conf": "start on runlevel S\nconsole owner\nexec /sbin/sulogin\n",
        "/etc/sysconfig/init": "BOOTUP=color\nACTIVE_CONSOLES=/dev/tty[1-6]\n",
        "/etc/rc.d/rc.sysinit": "#!/bin/bash\n",
        "/etc/fstab": "/dev/xvda1 / ext4 defaults 1 1\n",
      },
    );
    const plan = await planInit(guest, report({ type: "upstart", default: "3" }, []));
    expect(plan.command).toEqual(["/sbin/init"]);
    expect(plan.stopSignal).toBe("SIGPWR");
    expect(plan.runOptions.map((o) => o.option)).toEqual(["--cap-add=SYS_BOOT"]);
    expect(plan.prunedServices.map((s) => s.name).sort()).toEqual(["iptables", "lvm2-monitor", "network"]);
    const actions = plan.adaptations.map((a) => `${a.action} ${a.path}`);
    expect(actions).toEqual(
      expect.arrayContaining([
        "replace /etc/fstab",
        "remove /etc/rc.d/rc3.d/S08iptables",
        "remove /etc/rc.d/rc3.d/S10network",
        "remove /etc/rc.d/rc5.d/S26lvm2-monitor",
        "replace /etc/init/rcS-emergency.conf",
        "add /etc/init/power-status-changed.conf",
        "replace /etc/sysconfig/init",
        "add /fastboot",
        "add /.nolvm",
      ]),
    );
    expect(actions).not.toContain("remove /etc/rc.d/rc3.d/S55sshd");
    const text = (path: string) => new TextDecoder().decode(plan.adaptations.find((a) => a.path === path)!.content);
    expect(text("/etc/init/rcS-emergency.conf")).not.toContain("sulogin");
    expect(text("/etc/sysconfig/init")).toMatch(/^ACTIVE_CONSOLES=$/m);
  });

  it("masks a systemd guest's units that cannot run in a container, sockets included", async () => {
    const guest = memoryGuest({ ...dir("/", "/etc", "/sbin", "/lib", "/lib/systemd"), "/sbin/init": link("/lib/systemd/systemd"), "/lib/systemd/systemd": { stat: { type: "file" } } });
    const plan = await planInit(guest, report({ type: "systemd", default: "multi-user.target" }, [svc("NetworkManager.service", "systemd"), svc("lvm2-lvmetad.socket", "systemd"), svc("httpd.service", "systemd")]));
    expect(plan.command).toEqual(["/sbin/init"]);
    expect(plan.stopSignal).toBe("SIGRTMIN+3");
    expect(plan.adaptations.map((a) => `${a.action} ${a.path}`)).toEqual(["mask /etc/systemd/system/NetworkManager.service", "mask /etc/systemd/system/lvm2-lvmetad.socket"]);
  });
});

describe("servicePorts", () => {
  it("reads ports from the services' own files; loopback-only ones are internal", async () => {
    const guest = memoryGuest(
      { ...dir("/", "/etc", "/etc/ssh", "/etc/mysql", "/etc/mysql/mariadb.conf.d", "/etc/redis", "/etc/nginx", "/etc/nginx/sites-enabled") },
      {
        "/etc/ssh/sshd_config": "Port 2222\nPermitRootLogin no\n",
        "/etc/mysql/my.cnf": "[client]\nport = 1\n",
        "/etc/mysql/mariadb.conf.d/50-server.cnf": "[mysqld]\nport = 3307\nbind-address = 127.0.0.1\n",
        "/etc/redis/redis.conf": "bind 0.0.0.0\nport 6380\n",
        "/etc/nginx/sites-enabled/default": "server { listen 8080; listen [::]:8080; }\n",
      },
    );
    const ports = await servicePorts(guest, [svc("ssh.service", "systemd"), svc("mariadb.service", "systemd"), svc("redis-server.service", "systemd"), svc("nginx.service", "systemd"), svc("cron.service", "systemd")]);
    expect(ports.map((p) => `${p.service} ${p.port}/${p.protocol}${p.loopbackOnly ? " internal" : ""}`)).toEqual(["ssh 2222/tcp", "mariadb 3307/tcp internal", "redis-server 6380/tcp", "nginx 8080/tcp"]);
    expect(ports[0]!.evidence).toBe("/etc/ssh/sshd_config: Port 2222");
  });
});
