import { MimelogError } from '../../util/errors.js';

/** An error that stops the run because a person must act on the syslog destination or its settings. */
export function syslogError(message: string, options?: ErrorOptions): MimelogError {
  return new MimelogError('output', `syslog destination: ${message}`, options);
}
