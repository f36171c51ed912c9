/**
 * Plain TCP or TLS syslog (RFC 6587 octet counting, RFC 5425): no answer comes back, so a message
 * counts as acknowledged once its bytes are handed to the operating system. Bytes in flight when
 * the connection drops are lost without anyone knowing; RELP is the transport that cannot lose.
 */
import { type Endpoint, endSocket, endpointLabel, openSocket, watchSocket } from './connect.js';
import { octetFrame } from './rfc5424.js';
import type { Session, Wire } from './sender.js';

export function streamWire(e: Endpoint): Wire {
  return {
    label: endpointLabel(e, e.tls ? 'tls' : 'tcp'),
    async connect(broken) {
      const socket = await openSocket(e);
      watchSocket(socket, broken);
      // The receiver sends nothing; anything it does send is read and dropped, so it cannot fill a buffer.
      socket.on('data', () => {});
      const session: Session = {
        send: (message, ack) => void socket.write(octetFrame(message), (err) => err || ack()),
        close: () => endSocket(socket),
        destroy: () => socket.destroy(),
      };
      return session;
    },
  };
}
