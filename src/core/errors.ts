/** Errors that stop a collection and need a person (bad keys, an expired binding, an address that never answered). */
export class CollectorError extends Error {}
