/** One input of bytes to decode (a file, a pipe, stdin): what the driver reads, whatever found it. */
export interface LocalInput {
  readonly name: string;
  open(): AsyncIterable<Buffer | string>;
  /** What the input looks like now (a digest of its head), to tell a resumed file from a replaced one; undefined for stdin and pipes. */
  identity(): Promise<string | undefined>;
}
