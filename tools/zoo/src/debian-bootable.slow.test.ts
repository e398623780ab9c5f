import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { extractPartition, readPartitionTable } from "./check.js";
import { bootableFacts, buildZooGuest } from "./index.js";
import { run, runText } from "./run.js";

const scratch = mkdtempSync(join(tmpdir(), "zoo-bootable-"));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

describe.each([
  ["debian-xen", ["xen_blkfront", "xen_netfront"], ["xen-blkfront"], "console=hvc0"],
  ["debian-vmware", ["vmw_pvscsi", "vmxnet3"], ["vmw_pvscsi"], undefined],
] as const)("zoo guest %s", (name, drivers, driverFiles, console) => {
  it("is a bookworm with the distribution's kernel and grub in the MBR, configured as its hypervisor left it", async () => {
    const guest = await buildZooGuest(name);
    const facts = bootableFacts[name];
    const disk = guest.disks[0]!;
    const table = readPartitionTable(disk);
    expect(table.label).toBe("dos");
    // grub's boot code in the MBR: "GRUB" appears in its first sector.
    expect(readFileSync(disk).subarray(0, 512).includes(Buffer.from("GRUB"))).toBe(true);
    const part = join(scratch, `${name}.ext4`);
    extractPartition(disk, table.partitions[0]!, part);
    run("e2fsck", ["-fn", part]);
    const cat = (p: string) => runText("debugfs", ["-R", `cat ${p}`, part]);
    expect(cat("/etc/fstab")).toMatch(new RegExp(`^${facts.rootDevice}\\s+/\\s+ext4`, "m"));
    const kernel = guest.expected.defaultKernel!;
    expect(kernel).toMatch(/^\d+\.\d+\.\d+-\d+-amd64$/);
    const grubCfg = cat("/boot/grub/grub.cfg");
    expect(grubCfg).toContain(`root=${facts.rootDevice}`);
    expect(grubCfg).not.toMatch(/loop\d/);
    if (console) expect(grubCfg).toContain(console);
    // The initramfs holds the old hypervisor's drivers and no virtio ones.
    const listing = runText("lsinitramfs", [join(guest.rootTree, "boot", `initrd.img-${kernel}`)]);
    for (const f of driverFiles) expect(listing).toContain(`${f}.ko`);
    expect(listing).not.toMatch(/virtio_blk|virtio_pci/);
    expect(drivers.length).toBeGreaterThan(0);
    expect(cat("/etc/network/interfaces")).toContain(`iface ${facts.interfaceName} inet static`);
    expect(cat("/var/www/html/index.html")).toBe(facts.page);
  });
});
