import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { spawn } from "node:child_process";
import { cached, cachedSync, cacheRoot, fixtureKey } from "./cache.js";

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

  it("makes concurrent callers wait for one build through the lock file", async () => {
    let builds = 0;
    const build = (tag: string) => async (out: string) => {
      builds++;
      await tick(300);
      writeFileSync(join(out, "who"), tag);
    };
    const [a, b] = await Promise.all([cached("shared", build("first")), cached("shared", build("second"))]);
    expect(builds).toBe(1);
    expect(a).toBe(b);
    expect(readFileSync(join(a, "who"), "utf8")).toBe("first");
    // No lock or temporary folder is left behind, and later calls do not build.
    expect(readdirSync(cacheRoot())).toEqual(["shared"]);
    await cached("shared", build("late"));
    expect(builds).toBe(1);
  });

  it("takes over a lock whose process is gone, and removes that process's half-made folder", async () => {
    mkdirSync(join(cacheRoot(), ".tmp-orphan-999999999-abcd"), { recursive: true });
    writeFileSync(join(cacheRoot(), "orphan.lock"), "999999999");
    const out = await cached("orphan", (d) => writeFileSync(join(d, "ok"), "1"));
    expect(existsSync(join(out, "ok"))).toBe(true);
    expect(existsSync(join(cacheRoot(), "orphan.lock"))).toBe(false);
    expect(readdirSync(cacheRoot()).filter((n) => n.includes("orphan"))).toEqual(["orphan"]);
  });

  it("keeps the first copy when another builder renamed its own in meanwhile", async () => {
    const out = await cached("raced", (d) => {
      // Another process (one that took over a lock it thought stale) finishes first.
      mkdirSync(join(cacheRoot(), "raced"));
      writeFileSync(join(cacheRoot(), "raced", "who"), "other");
      writeFileSync(join(d, "who"), "us");
    });
    expect(readFileSync(join(out, "who"), "utf8")).toBe("other");
    expect(readdirSync(cacheRoot()).filter((n) => n.includes("raced"))).toEqual(["raced"]);
  });

  it("leaves nothing behind when a build fails", async () => {
    await expect(
      cached("broken", () => {
        throw new Error("mkfs failed");
      }),
    ).rejects.toThrow("mkfs failed");
    expect(readdirSync(cacheRoot()).filter((n) => n.includes("broken"))).toEqual([]);
  });
});

describe("cachedSync", () => {
  it("builds once, synchronously, and reuses the entry", () => {
    let builds = 0;
    const key = fixtureKey("sync", { size: 1 });
    expect(key).toMatch(/^sync-[0-9a-f]{16}$/);
    const out = cachedSync(key, (d) => {
      builds++;
      writeFileSync(join(d, "image.raw"), "x");
    });
    expect(cachedSync(key, () => void builds++)).toBe(out);
    expect(builds).toBe(1);
    expect(readFileSync(join(out, "image.raw"), "utf8")).toBe("x");
  });

  it("waits for another live process that holds the lock, and uses what it built", () => {
    const key = "held-elsewhere";
    const root = cacheRoot();
    // A real other process: it holds the lock for a moment, then puts the entry in place.
    const other = spawn("sh", ["-c", `sleep 0.6; mkdir "${join(root, key)}"; echo theirs > "${join(root, key, "who")}"; rm "${join(root, `${key}.lock`)}"`], { stdio: "ignore" });
    writeFileSync(join(root, `${key}.lock`), String(other.pid));
    const out = cachedSync(key, (d) => writeFileSync(join(d, "who"), "ours\n"));
    expect(readFileSync(join(out, "who"), "utf8")).toBe("theirs\n");
  });
});
