/** One input of bytes to decode (a file, a pipe, stdin): what the driver reads, whatever found it. */
export interface LocalInput {
  readonly name: string;
  open(): AsyncIterable<Buffer | string>;
  /** What the input looks like now (a digest of its head), to tell a resumed file from a replaced one; undefined for stdin and pipes. */
  identity(): Promise<string | undefined>;
  /**
   * What was read of the input so far, stored with each unit's checkpoint instead of `identity`
   * (a spool file: the next poll compares the file with what was read, see sources/spool-file.ts).
   */
  progress?(): Promise<string>;
}
