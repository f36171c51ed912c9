/** Writes a zip in memory: the simulator's compressed answers (and test fixtures). */
import yazl from 'yazl';

export function zipMembers(members: Readonly<Record<string, Buffer | string>>, options: { store?: boolean } = {}): Promise<Buffer> {
  const z = new yazl.ZipFile();
  for (const [name, body] of Object.entries(members)) z.addBuffer(Buffer.from(body), name, { mtime: new Date(0), compress: !options.store });
  z.end();
  const parts: Buffer[] = [];
  return new Promise((resolve, reject) => {
    z.outputStream.on('data', (c: Buffer) => parts.push(c));
    z.outputStream.on('end', () => resolve(Buffer.concat(parts)));
    z.outputStream.on('error', reject);
  });
}
