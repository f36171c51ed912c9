/**
 * Every error mimelog means to report, in one place. Each has a kind (who or what must change for
 * the command to work), keeps its cause where that is safe to keep, and maps to one exit status
 * (`exitStatus`, the README's table). The CLI prints a `MimelogError` as its one-line message; any
 * other error is unexpected and is printed with its name.
 */
import { maskSecrets } from './secrets.js';
import { printable, printableLines } from './terminal-text.js';

/** Exit statuses, documented in the README. */
export const EXIT = { ok: 0, failure: 1, deadLettered: 2, interrupted: 3, gap: 4 } as const;
export type ExitStatus = (typeof EXIT)[keyof typeof EXIT];

/** What each kind of error is about: the thing a person fixes. */
export const ERROR_KINDS = {
  usage: 'a command-line option or argument',
  config: 'the service config file',
  input: 'an input file or folder',
  store: 'the store file',
  filter: 'a search filter',
  retention: 'the retention setting',
  credentials: "Mimecast's keys or OAuth2 client",
  source: 'the Mimecast API, which stopped the collection',
  search_engine: 'the search engine or its settings',
  console: 'the web console',
  output: 'standard output (the file or disk it is written to)',
  // Round 3's destinations (Kafka first).
  destination: 'a destination (Kafka, ...) or its settings',
} as const;
export type ErrorKind = keyof typeof ERROR_KINDS;

/** Every kind stops the command with status 1; the other statuses say how a finished run went. */
const EXIT_OF_KIND: Readonly<Record<ErrorKind, ExitStatus>> = {
  usage: EXIT.failure,
  config: EXIT.failure,
  input: EXIT.failure,
  store: EXIT.failure,
  filter: EXIT.failure,
  retention: EXIT.failure,
  credentials: EXIT.failure,
  source: EXIT.failure,
  search_engine: EXIT.failure,
  console: EXIT.failure,
  output: EXIT.failure,
  destination: EXIT.failure,
};

export class MimelogError extends Error {
  constructor(
    readonly kind: ErrorKind,
    message: string,
    options?: ErrorOptions,
  ) {
    super(message, options);
    this.name = 'MimelogError';
  }
}

/** A wrong option or argument, said in one line. */
export class UsageError extends MimelogError {
  constructor(message: string, options?: ErrorOptions) {
    super('usage', message, options);
  }
}

/** Errors that stop a collection and need a person (bad keys, an expired binding, an address that never answered). */
export class CollectorError extends MimelogError {
  constructor(message: string, options?: ErrorOptions & { kind?: 'source' | 'credentials' }) {
    super(options?.kind ?? 'source', message, options);
  }
}

/** Mimecast answered with an error instead of data; `code` is its error code, when it sent one. */
export class ApiAnswerError extends CollectorError {
  constructor(message: string, readonly code: string | undefined) {
    super(message);
  }
}

/** The API refused a request as malformed (HTTP 400). */
export class RequestRejectedError extends ApiAnswerError {}

/** The OAuth2 token endpoint refused the client id and secret. */
export class OAuthError extends CollectorError {
  constructor(message: string) {
    super(message, { kind: 'credentials' });
  }
}

/** No node of the search engine answered (the search sink retries these; setup gives up). */
export class SearchUnreachableError extends MimelogError {
  constructor(message: string) {
    super('search_engine', message);
  }
}

/** Every problem of a config file at once, one per line: the fix of each is in its line. */
export class ConfigError extends MimelogError {
  constructor(
    readonly file: string,
    readonly problems: readonly string[],
  ) {
    super('config', `config ${file}: ${problems.length === 1 ? problems[0] : `${problems.length} problems:\n  ${problems.join('\n  ')}`}`);
  }
}

/**
 * `err` said again as `message` (its redacted text, or with a prefix): a MimelogError keeps its
 * kind, any other error gets `kind`. The cause is left out on purpose: its message may hold what
 * was redacted.
 */
export function restated(err: unknown, message: string, kind: ErrorKind): MimelogError {
  return new MimelogError(err instanceof MimelogError ? err.kind : kind, message);
}

/** Whether `err` is a MimelogError of this kind. */
export function isKind(err: unknown, kind: ErrorKind): err is MimelogError {
  return err instanceof MimelogError && err.kind === kind;
}

/** The exit status of a command that ended with `err`. */
export function exitStatus(err: unknown): ExitStatus {
  return err instanceof MimelogError ? EXIT_OF_KIND[err.kind] : EXIT.failure;
}

/**
 * How the CLI says `err` on stderr: one line (a config error: one line per problem); an error that
 * is not a MimelogError is unexpected and also says its name (a stack is not for users). Every
 * registered secret is masked, in every encoding (util/secrets.ts).
 */
export function errorText(err: unknown): string {
  // Secrets are masked first (in every encoding), then a message that may quote a server's answer,
  // a file name or a record is made printable: shown, never sent to the terminal as control codes.
  if (err instanceof ConfigError) return printableLines(maskSecrets(err.message));
  return printable(maskSecrets(rawErrorText(err)));
}

/** SQLite's codes for a store file whose pages do not read: the person is sent to `mimelog check`, which says what is damaged and how to recover. */
const DAMAGED_STORE = new Set(['SQLITE_CORRUPT', 'SQLITE_NOTADB', 'SQLITE_CORRUPT_INDEX', 'SQLITE_CORRUPT_VTAB', 'SQLITE_CORRUPT_SEQUENCE']);

function rawErrorText(err: unknown): string {
  if (err instanceof MimelogError) return err.message.split('\n')[0]!;
  if (err instanceof Error && DAMAGED_STORE.has((err as { code?: string }).code ?? '')) {
    return `the store is damaged (${err.message.split('\n')[0]}): run mimelog check --db <the store> to see what is damaged and how to recover what can be read`;
  }
  if (err instanceof Error) return `${err.name === 'Error' ? '' : `${err.name}: `}${err.message.split('\n')[0]}`;
  return String(err);
}
