import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { cached, cacheRoot } from "./cache.js";

const dir = mkdtempSync(join(tmpdir(), "zoo-cache-"));
const saved = process.env.LEAPP_CACHE_DIR;
beforeAll(() => {
  process.env.LEAPP_CACHE_DIR = dir;
});
afterAll(() => {
  if (saved === undefined) delete process.env.LEAPP_CACHE_DIR;
  else process.env.LEAPP_CACHE_DIR = saved;
  rmSync(dir, { recursive: true, force: true });
});

const tick = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

describe("cached", () => {
  it("honours LEAPP_CACHE_DIR", () => {
    expect(cacheRoot()).toBe(join(dir, "zoo"));
  });

  it("lets concurrent builders race: the first rename wins, the loser's copy is thrown away", async () => {
    let builds = 0;
    const build = (tag: string, delay: number) => async (out: string) => {
      builds++;
      await tick(delay);
      writeFileSync(join(out, "who"), tag);
    };
    const [a, b] = await Promise.all([cached("race", build("slow", 60)), cached("race", build("fast", 10))]);
    expect(builds).toBe(2);
    expect(a).toBe(b);
    expect(readFileSync(join(a, "who"), "utf8")).toBe("fast");
    // No temporary folders are left behind.
    expect(readdirSync(cacheRoot())).toEqual(["race"]);
    // Later calls do not build.
    await cached("race", build("late", 0));
    expect(builds).toBe(2);
  });

  it("leaves nothing behind when a build fails", async () => {
    await expect(
      cached("broken", () => {
        throw new Error("mkfs failed");
      }),
    ).rejects.toThrow("mkfs failed");
    expect(existsSync(join(cacheRoot(), "broken"))).toBe(false);
    expect(readdirSync(cacheRoot()).filter((n) => n.includes("broken"))).toEqual([]);
  });
});
