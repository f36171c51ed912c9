/** The local engine's JVM as a process: found by its HTTP port, and the CPU it has used. */
import { readFileSync, readdirSync } from 'node:fs';

/** The engine JVM's process id, found by the HTTP port it was started with. */
export function jvmPid(url: string): number {
  const port = new URL(url).port;
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      if (readFileSync(`/proc/${entry}/cmdline`, 'utf8').split('\0').includes(`http.port=${port}`)) return Number(entry);
    } catch {
      // gone meanwhile
    }
  }
  throw new Error(`no engine process listens on ${url}`);
}

/** CPU seconds (user + system) the process used so far. */
export function engineCpu(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').replace(/^.*\) /, '').split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100; // utime, stime in clock ticks (USER_HZ = 100)
}
