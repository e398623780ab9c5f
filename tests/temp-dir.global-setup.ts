// Every test run gets its own temporary directory (TMPDIR, so os.tmpdir() and the tools tests run
// see it), removed when the run ends: scratch images left by a test — or by a test process killed
// before its own cleanup ran — never pile up on the machine.
import { chmodSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

export default function setup(): () => void {
  const previous = process.env.TMPDIR;
  const dir = mkdtempSync(join(tmpdir(), "leapp-test-run-"));
  // Searchable by all, as /tmp is: some tests run tools as an unprivileged user in folders here.
  chmodSync(dir, 0o755);
  process.env.TMPDIR = dir;
  return () => {
    if (previous === undefined) delete process.env.TMPDIR;
    else process.env.TMPDIR = previous;
    try {
      rmSync(dir, { recursive: true, force: true, maxRetries: 3 });
    } catch (err) {
      // Something still mounted or busy: say where, rather than fail a finished run.
      process.stderr.write(`could not remove the test run's temporary directory ${dir}: ${(err as Error).message}\n`);
    }
  };
}
