// Three tiers, each runnable alone (`pnpm test:unit` …), all run by `npm test`:
//   unit         foo.test.ts        — pure TypeScript, no system tools
//   integration  foo.int.test.ts    — real Debian tools (qemu-img, e2fsprogs, rpm, libvirt-clients, sshd…)
//   slow         foo.slow.test.ts   — debootstrap roots, VM boots, libguestfs
// Workspace packages resolve to their sources, so tests never run against a stale build.
import { readdirSync, existsSync, readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { join } from "node:path";
import { defineConfig } from "vitest/config";

const root = fileURLToPath(new URL(".", import.meta.url));
const alias: Record<string, string> = {};
for (const group of ["packages", "tools"]) {
  if (!existsSync(join(root, group))) continue;
  for (const dir of readdirSync(join(root, group))) {
    // Subpath exports ("./ssh" → src/ssh.ts) first: the first alias that matches an import wins.
    const manifest = join(root, group, dir, "package.json");
    const exported = existsSync(manifest) ? Object.keys(JSON.parse(readFileSync(manifest, "utf8")).exports ?? {}) : [];
    for (const sub of exported.map((e) => /^\.\/([\w-]+)$/.exec(e)?.[1]).filter((e) => e !== undefined)) {
      if (existsSync(join(root, group, dir, "src", `${sub}.ts`))) alias[`@leapp/${dir}/${sub}`] = join(root, group, dir, "src", `${sub}.ts`);
    }
    const entry = join(root, group, dir, "src", "index.ts");
    if (existsSync(entry)) alias[`@leapp/${dir}`] = entry;
  }
}

const where = ["packages/*/src/**", "apps/*/src/**", "tools/*/src/**", "tests/**", "scripts/**", "bench/**"];
const unitOnly = ["**/*.int.test.ts", "**/*.slow.test.ts"];

export default defineConfig({
  resolve: { alias },
  test: {
    globalSetup: ["tests/temp-dir.global-setup.ts"],
    projects: [
      {
        resolve: { alias },
        test: {
          name: "unit",
          include: where.map((w) => `${w}/*.test.ts`),
          exclude: ["**/node_modules/**", "**/dist/**", ...unitOnly],
          testTimeout: 30_000,
        },
      },
      {
        resolve: { alias },
        test: {
          name: "integration",
          include: where.map((w) => `${w}/*.int.test.ts`),
          exclude: ["**/node_modules/**", "**/dist/**"],
          testTimeout: 300_000,
          hookTimeout: 600_000,
        },
      },
      {
        resolve: { alias },
        test: {
          name: "slow",
          include: where.map((w) => `${w}/*.slow.test.ts`),
          exclude: ["**/node_modules/**", "**/dist/**"],
          testTimeout: 900_000,
          hookTimeout: 1_200_000,
        },
      },
    ],
  },
});
