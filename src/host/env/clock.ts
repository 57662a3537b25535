/** A source of wall-clock time in milliseconds since the Unix epoch. Injected everywhere time is read. */
export interface Clock {
  /** Current time, ms since epoch. */
  now(): number;
}

/** The real clock. Only drivers and the process entry points construct it; cores receive a Clock. */
export const realClock: Clock = { now: () => Date.now() };
