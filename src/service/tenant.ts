/**
 * A source's tenant on every event it sends: ECS `organization.name`, so one index holding several
 * Mimecast accounts can be split by account. Added as the unit goes to the sink: the event's
 * fingerprint (`event.id`, `event.hash`) is of the record and does not change. The embedded store
 * rebuilds its documents from the raw record, so there the field is not kept.
 */
import type { Sink } from '../core/sink.js';
import type { ProcessedEvent, Unit } from '../core/unit.js';

function stamped(e: ProcessedEvent, organization: { name: string }, prefix: string): ProcessedEvent {
  // JSON text made on a worker thread is an object: the field goes in front of its first key.
  const docJson = e.docJson === undefined ? undefined : e.docJson === '{}' ? `${prefix.slice(0, -1)}}` : prefix + e.docJson.slice(1);
  return { ...e, doc: { ...e.doc, organization }, ...(docJson === undefined ? {} : { docJson }) };
}

/** The sink with `organization.name: tenant` added to every event written through it. */
export function tenantSink(inner: Sink, tenant: string): Sink {
  const organization = { name: tenant };
  const prefix = `{"organization":${JSON.stringify(organization)},`;
  return {
    write: (unit: Unit, state) => inner.write({ ...unit, events: unit.events.map((e) => stamped(e, organization, prefix)) }, state),
    close: () => inner.close(),
  };
}
