// Ctrl-C and `kill` during a long command: SIGINT and SIGTERM abort the command's AbortSignal, so
// the library removes what it half-wrote and the command exits 130 or 143 as a shell expects. A
// second signal exits at once (a temporary output may then stay behind under its .leapp-tmp- name).

export type InterruptSignal = "SIGINT" | "SIGTERM";

const EXIT_CODES: Record<InterruptSignal, number> = { SIGINT: 130, SIGTERM: 143 };

/** The reason an interrupted command's AbortSignal carries. */
export class Interrupted extends Error {
  override readonly name = "AbortError";
  readonly code = "LEAPP_INTERRUPTED";
  constructor(readonly signal: InterruptSignal) {
    super(`interrupted by ${signal}`);
  }

  /** 128 + the signal's number, as shells report a process killed by it. */
  get exitCode(): number {
    return EXIT_CODES[this.signal];
  }
}

interface SignalSource {
  on(event: InterruptSignal, listener: () => void): unknown;
  off(event: InterruptSignal, listener: () => void): unknown;
  exit(code: number): never;
}

/** An AbortSignal aborted (with an `Interrupted` reason) by the first SIGINT or SIGTERM. */
export function abortOnSignals(source: SignalSource = process): { signal: AbortSignal; dispose(): void } {
  const controller = new AbortController();
  const listeners = (Object.keys(EXIT_CODES) as InterruptSignal[]).map((name) => {
    const listener = () => {
      if (controller.signal.aborted) source.exit(EXIT_CODES[name]);
      controller.abort(new Interrupted(name));
    };
    source.on(name, listener);
    return [name, listener] as const;
  });
  return {
    signal: controller.signal,
    dispose() {
      for (const [name, listener] of listeners) source.off(name, listener);
    },
  };
}
