/** Opening a TCP or TLS connection to the receiver, with a timeout and errors that say what failed. */
import { type Socket, connect as tcpConnect } from 'node:net';
import { type ConnectionOptions, connect as tlsConnect } from 'node:tls';
import { FatalWireError } from './sender.js';

export interface Endpoint {
  readonly host: string;
  readonly port: number;
  /** TLS options (CA, client certificate, server name); absent: plain TCP. */
  readonly tls?: ConnectionOptions;
  readonly timeoutMs: number;
}

/** OpenSSL's and Node's codes for a certificate the client does not trust: retrying cannot cure them. */
const UNTRUSTED_CERTIFICATE = /CERT|SELF_SIGNED|ISSUER|ALTNAME|VERIFY|UNTRUSTED/;

export const endpointLabel = (e: Endpoint, protocol: string) => `${protocol} ${e.host.includes(':') ? `[${e.host}]` : e.host}:${e.port}`;

/** Resolves with a connected (TLS: verified) socket. */
export function openSocket(e: Endpoint): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket: Socket = e.tls
      ? tlsConnect({ host: e.host, port: e.port, ...e.tls })
      : tcpConnect({ host: e.host, port: e.port });
    const timer = setTimeout(() => fail(new Error(`no connection within ${e.timeoutMs / 1000} s`)), e.timeoutMs);
    const fail = (err: Error & { code?: string }) => {
      clearTimeout(timer);
      socket.destroy();
      const code = err.code ?? '';
      if (e.tls && UNTRUSTED_CERTIFICATE.test(code)) {
        reject(new FatalWireError(`the receiver's TLS certificate is not trusted (${code}: ${err.message}); check ca_file and server_name`));
      } else reject(new Error(code && !err.message.includes(code) ? `${code}: ${err.message}` : err.message));
    };
    socket.once('error', fail);
    socket.once(e.tls ? 'secureConnect' : 'connect', () => {
      clearTimeout(timer);
      socket.off('error', fail);
      socket.setNoDelay(true);
      socket.setKeepAlive(true, 30_000);
      resolve(socket);
    });
  });
}

/** Calls `broken` once, with the first reason the socket gives for going away. */
export function watchSocket(socket: Socket, broken: (reason: string) => void): void {
  let said = false;
  const once = (reason: string) => {
    if (said) return;
    said = true;
    broken(reason);
  };
  socket.on('error', (err: Error & { code?: string }) => once(err.code ?? err.message));
  socket.on('end', () => once('the receiver closed the connection'));
  socket.on('close', () => once('connection closed'));
}

/** Ends the socket, destroying it if it has not closed within `ms`. */
export function endSocket(socket: Socket, ms = 2000): Promise<void> {
  return new Promise((resolve) => {
    if (socket.destroyed) return resolve();
    const timer = setTimeout(() => socket.destroy(), ms).unref();
    socket.once('close', () => {
      clearTimeout(timer);
      resolve();
    });
    socket.end();
  });
}
