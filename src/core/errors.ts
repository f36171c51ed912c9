/** Errors that stop a collection and need a person (bad keys, an expired binding, an address that never answered). */
export class CollectorError extends Error {}

/** The API refused a request as malformed (HTTP 400); `code` is its error code, when it sent one. */
export class RequestRejectedError extends CollectorError {
  constructor(message: string, readonly code: string | undefined) {
    super(message);
  }
}
