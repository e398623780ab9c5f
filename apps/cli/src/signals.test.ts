import { EventEmitter } from "node:events";
import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { abortOnSignals, Interrupted } from "./signals.js";
import { interruptAtProgress } from "./test-streams.js";

const work = mkdtempSync(join(tmpdir(), "leapp-signals-"));
afterAll(() => rmSync(work, { recursive: true, force: true }));

/** A process stand-in: signals are events, exit is recorded. */
function fakeProcess() {
  const emitter = new EventEmitter();
  const exits: number[] = [];
  return { emitter, exits, source: { on: emitter.on.bind(emitter), off: emitter.off.bind(emitter), exit: (code: number) => void exits.push(code) as never } };
}

describe("SIGINT and SIGTERM", () => {
  it("abort the signal with a reason saying which, and exit at once on the second", () => {
    const fake = fakeProcess();
    const { signal, dispose } = abortOnSignals(fake.source);
    expect(signal.aborted).toBe(false);
    fake.emitter.emit("SIGTERM");
    expect(signal.reason).toBeInstanceOf(Interrupted);
    expect(signal.reason).toMatchObject({ name: "AbortError", code: "LEAPP_INTERRUPTED", signal: "SIGTERM", exitCode: 143 });
    expect(fake.exits).toEqual([]);
    fake.emitter.emit("SIGINT");
    expect(fake.exits).toEqual([130]);
    dispose();
    expect(fake.emitter.listenerCount("SIGINT") + fake.emitter.listenerCount("SIGTERM")).toBe(0);
  });

  it("interrupt a running convert: exit 143, the output removed, the JSON progress stream ended by an error event", async () => {
    const source = join(work, "source.raw");
    writeFileSync(source, Buffer.alloc(64 * 1024 * 1024, 0x5a));
    const out = join(work, "out");
    mkdirSync(out);
    const target = join(out, "target.raw");
    const r = await interruptAtProgress("SIGTERM", "storage", "convert", source, target);
    expect(r.code, r.lines.join("\n")).toBe(143);
    expect(readdirSync(out)).toEqual([]);
    expect(r.lines.at(-1)).toBe(`leapp: interrupted; removed the unfinished ${target} (SIGTERM)`);
    expect(r.events.at(-1)).toMatchObject({ event: "error", error: { code: "LEAPP_INTERRUPTED" } });
  });
});
