/** An error meant for the user: printed as one line, exit status 1. */
export class UsageError extends Error {}

/** Exit statuses, documented in the README. */
export const EXIT = { ok: 0, failure: 1, deadLettered: 2 } as const;
