import { run } from "./program.js";
import { abortOnSignals } from "./signals.js";

const interrupt = abortOnSignals();
process.exitCode = await run(process.argv.slice(2), process, interrupt.signal);
interrupt.dispose();
