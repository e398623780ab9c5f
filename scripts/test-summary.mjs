#!/usr/bin/env node
// Turns vitest's JSON report into the one closing line CI reads: "N passed, N failed[, N skipped]".
// Exits non-zero when anything failed, when vitest failed for any other reason, or when nothing ran.
import { existsSync, readFileSync } from "node:fs";

const [file = "test-results/vitest.json", vitestStatus = "0", startedAt] = process.argv.slice(2);
let passed = 0;
let failed = 0;
let skipped = 0;
if (existsSync(file)) {
  const report = JSON.parse(readFileSync(file, "utf8"));
  passed = report.numPassedTests ?? 0;
  failed = report.numFailedTests ?? 0;
  skipped = (report.numPendingTests ?? 0) + (report.numTodoTests ?? 0);
  // Files that failed to load report no tests; count each as a failure so it cannot pass unseen.
  for (const suite of report.testResults ?? []) {
    if (suite.status === "failed" && (suite.assertionResults ?? []).length === 0) failed++;
  }
}
if (vitestStatus !== "0" && failed === 0) failed = 1;
if (startedAt) process.stderr.write(`test run took ${Math.round(Date.now() / 1000 - Number(startedAt))} s\n`);
process.stdout.write(`${passed} passed, ${failed} failed${skipped ? `, ${skipped} skipped` : ""}\n`);
process.exitCode = failed > 0 || passed === 0 ? 1 : 0;
