// Test support: boot a disk or a kernel under QEMU (TCG — /dev/kvm is of no use here), watch the
// serial console, talk to the guest through user-mode networking's host forwards.
import { spawn, type ChildProcess } from "node:child_process";
import { connect } from "node:net";

export interface BootOptions {
  disk: string;
  /** Boot this kernel and initramfs with this command line instead of the disk's boot loader. */
  kernel?: { path: string; initrd: string; append: string };
  /** The disk is written to (a first boot does) unless snapshot. */
  snapshot?: boolean;
  mac?: string;
  /** Host port forwarded to the guest's port 80. */
  httpPort?: number;
  machine?: "q35" | "pc";
  /** A QEMU monitor socket, to ask for an ACPI power-down. */
  monitor?: string;
}

export class QemuGuest {
  output = "";
  readonly #proc: ChildProcess;
  readonly exited: Promise<number | null>;
  constructor(o: BootOptions) {
    const args = ["-machine", `${o.machine ?? "q35"},accel=tcg`, "-m", "1024", "-smp", "2", "-display", "none", "-serial", "stdio", "-no-reboot"];
    args.push("-monitor", o.monitor ? `unix:${o.monitor},server,nowait` : "none");
    args.push("-drive", `file=${o.disk},format=raw,if=virtio${o.snapshot ? ",snapshot=on" : ""}`);
    if (o.kernel) args.push("-kernel", o.kernel.path, "-initrd", o.kernel.initrd, "-append", o.kernel.append);
    const fwd = o.httpPort ? `,hostfwd=tcp:127.0.0.1:${o.httpPort}-:80` : "";
    args.push("-netdev", `user,id=n0${fwd}`, "-device", `virtio-net-pci,netdev=n0${o.mac ? `,mac=${o.mac}` : ""}`);
    this.#proc = spawn("qemu-system-x86_64", args, { stdio: ["ignore", "pipe", "pipe"] });
    this.#proc.stdout?.on("data", (d: Buffer) => {
      this.output += d.toString("latin1");
    });
    this.#proc.stderr?.on("data", (d: Buffer) => {
      this.output += d.toString("latin1");
    });
    this.exited = new Promise((resolve) => this.#proc.on("exit", (code) => resolve(code)));
  }

  /** Resolves when the console shows `re`; rejects after `ms` (with the console's tail). */
  async waitFor(re: RegExp, ms: number): Promise<void> {
    const until = Date.now() + ms;
    while (!re.test(this.output)) {
      if (Date.now() > until) throw new Error(`no ${re} on the serial console after ${ms / 1000} s; last output:\n${this.output.slice(-3000)}`);
      if (this.#proc.exitCode !== null) throw new Error(`QEMU exited (${this.#proc.exitCode}) before ${re}; output:\n${this.output.slice(-3000)}`);
      if (this.timerCheckPanicked) throw new Error(`the kernel's timer check failed under TCG before ${re}`);
      await new Promise((r) => setTimeout(r, 250));
    }
  }

  /**
   * TCG on a loaded host can miss the kernel's early IO-APIC timer check ("IO-APIC + timer doesn't
   * work!"): a panic in the first tenth of a second, before any disk is touched, that has nothing to
   * do with the guest. Boot tests start again when they see it.
   */
  get timerCheckPanicked(): boolean {
    return /Kernel panic - not syncing: IO-APIC \+ timer doesn't work/.test(this.output);
  }

  kill(): void {
    if (this.#proc.exitCode === null) this.#proc.kill("SIGKILL");
  }
}

/** Sends a monitor command (system_powerdown) over QEMU's monitor socket. */
export async function monitorCommand(socket: string, command: string): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    const c = connect(socket, () => {
      c.write(`${command}\n`);
      setTimeout(() => {
        c.end();
        resolve();
      }, 500);
    });
    c.on("error", reject);
  });
}

/** Boots with `o` until `first` shows on the console, starting again (up to 3 times) after an early TCG timer panic. */
export async function bootUntil(o: BootOptions, first: RegExp, ms: number): Promise<QemuGuest> {
  for (let attempt = 1; ; attempt++) {
    const vm = new QemuGuest(o);
    try {
      await vm.waitFor(first, ms);
      return vm;
    } catch (err) {
      vm.kill();
      await vm.exited;
      if (!vm.timerCheckPanicked || attempt >= 3) throw err;
    }
  }
}
