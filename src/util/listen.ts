/**
 * Where an HTTP listener binds (`host:port`, `[v6]:port`), whether that is loopback only, and
 * starting one: shared by the web console and the service's health and metrics endpoints.
 */
import { isIP } from 'node:net';
import type { AddressInfo } from 'node:net';

export interface ListenAddress {
  readonly host: string;
  readonly port: number;
}

/** `host:port` or `[v6]:port`; undefined when it is neither or the port is out of range. */
export function parseListen(text: string): ListenAddress | undefined {
  const m = /^\[([^\]]+)\]:(\d{1,5})$/.exec(text) ?? /^([^:[\]]+):(\d{1,5})$/.exec(text);
  const port = Number(m?.[2]);
  return m && port <= 65535 ? { host: m[1]!, port } : undefined;
}

export function isLoopback(host: string): boolean {
  if (host === 'localhost') return true;
  if (isIP(host) === 4) return host.startsWith('127.');
  return isIP(host) === 6 && /^(0*:)*:?0*1$/.test(host);
}

/** The host of a Host header (`name`, `name:port`, `[v6]:port`), lower case, without brackets; undefined when malformed. */
export function hostOfHeader(header: string): string | undefined {
  const m = /^\[([0-9a-f:.]+)\](?::\d{1,5})?$/i.exec(header) ?? /^([^:[\]\s]+)(?::\d{1,5})?$/.exec(header);
  return m?.[1]!.toLowerCase();
}

/**
 * Whether a request's Host header is one this listener answers to: an IP address (a page using DNS
 * rebinding sends its own host name, never an address), `localhost`, the listen host, or a name in
 * `allowed`. Anything else is a page on another site that had its name resolve to this machine.
 */
export function hostAllowed(header: string | undefined, listenHost: string, allowed: readonly string[]): boolean {
  const host = header === undefined ? undefined : hostOfHeader(header.trim());
  if (host === undefined) return false;
  if (isIP(host) !== 0) return true;
  return host === 'localhost' || host === listenHost.toLowerCase() || allowed.some((a) => a.toLowerCase() === host);
}

/** The host as a URL or a Host header writes it: an IPv6 address in brackets. */
export function urlHost(host: string): string {
  return host.includes(':') ? `[${host}]` : host;
}

export interface Listening {
  /** The port bound (the one asked for, or the free one port 0 picked). */
  readonly port: number;
  readonly url: string;
  /** Stops listening and drops open connections. */
  close(): Promise<void>;
}

/** Serves `fetch` at `at`; resolves once listening, rejects with the cause when it cannot. */
export async function listen(fetch: (request: Request, env: unknown) => Response | Promise<Response>, at: ListenAddress): Promise<Listening> {
  const { serve } = await import('@hono/node-server'); // loaded only by the commands that listen (see cli/main.ts)
  const server = serve({ fetch, hostname: at.host, port: at.port });
  await new Promise<void>((resolve, reject) => {
    server.once('listening', resolve);
    server.once('error', (err) => reject(new Error(`cannot listen on ${urlHost(at.host)}:${at.port}: ${err.message}`)));
  });
  const port = (server.address() as AddressInfo).port;
  return {
    port,
    url: `http://${urlHost(at.host)}:${port}/`,
    close: () => new Promise<void>((resolve) => {
      server.close(() => resolve());
      (server as unknown as { closeAllConnections?: () => void }).closeAllConnections?.();
    }),
  };
}
