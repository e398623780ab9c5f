// Benchmark: read + normalize 10,000 libvirt domain XMLs (parseDomainXml + readDomainXml) in under 2 s.
// Inputs are the virt-install corpus, each copy varied (name, UUID, MACs, memory) so every
// document is distinct. Run: pnpm --filter @leapp/libvirt-xml bench   (builds first via turbo: pnpm bench)
import { readDomainXml } from "../../packages/libvirt-xml/dist/index.js";
import { virtInstallCorpus } from "../../tools/zoo/dist/index.js";

const COUNT = Number(process.env.BENCH_COUNT ?? 10_000);
const BUDGET_MS = 2000;

const corpus = await virtInstallCorpus();
const documents = [];
for (let i = 0; documents.length < COUNT; i++) {
  const { xml } = corpus[i % corpus.length];
  const hex = (i & 0xffff).toString(16).padStart(4, "0");
  documents.push(
    xml
      .replace(/<name>([^<]*)<\/name>/, `<name>$1-${i}</name>`)
      .replace(/<uuid>[^<]*<\/uuid>/, `<uuid>00000000-0000-4000-8000-00000000${hex}</uuid>`)
      .replace(/mac address="([0-9a-f:]{11})[0-9a-f:]{6}"/g, `mac address="$1:${hex.slice(0, 2)}:${hex.slice(2)}"`)
      .replace(/<memory>(\d+)<\/memory>/, (_, kib) => `<memory>${Number(kib) + i}</memory>`),
  );
}
const bytes = documents.reduce((n, d) => n + d.length, 0);

// One warm-up pass over the distinct corpus so the JIT has seen the code, then the timed run.
for (const { xml } of corpus) readDomainXml(xml);
const start = process.hrtime.bigint();
let disks = 0;
for (const doc of documents) disks += readDomainXml(doc).disks.length;
const ms = Number(process.hrtime.bigint() - start) / 1e6;

const line = `read + normalize ${COUNT} domain XMLs (${(bytes / 1024 / 1024).toFixed(1)} MiB, ${corpus.length} virt-install variants, ${disks} disks): ${ms.toFixed(0)} ms, ${((COUNT / ms) * 1000).toFixed(0)} docs/s — budget ${BUDGET_MS} ms`;
console.log(line);
if (process.argv.includes("--json")) console.log(JSON.stringify({ count: COUNT, bytes, ms, budgetMs: BUDGET_MS }));
if (ms > BUDGET_MS) {
  console.error("over budget");
  process.exitCode = 1;
}
