/**
 * From Instance 2.8 and Migration 1.8 (Nova 2023.2) a node name travels with the id of its
 * ComputeNode row: a conductor of that version refuses to save an Instance whose `node` changed
 * without `compute_id` ("Instance.node is being updated ... but compute_id is not"), and the
 * resource tracker sets `dest_compute_id` with `dest_node`. Older versions have neither field,
 * so an object keeps the version it arrived at and gets the id only when that version has it.
 * The id is always this host's: every node this service writes is its own (resize stays on it).
 */
import type { FieldValue, NovaObject } from './versioned-object.js';

const LINKS: Record<string, { node: string; id: string; since: [number, number] }> = {
  Instance: { node: 'node', id: 'compute_id', since: [2, 8] },
  Migration: { node: 'dest_node', id: 'dest_compute_id', since: [1, 8] },
};

function atLeast(version: string, [major, minor]: [number, number]): boolean {
  const [ma, mi] = version.split('.').map(Number);
  return ma > major || (ma === major && mi >= minor);
}

/** `fields` plus the compute node id that goes with a node it sets (null with a null node). */
export function withComputeId(obj: NovaObject, fields: Record<string, FieldValue>, computeNodeId: number | null): Record<string, FieldValue> {
  const link = LINKS[obj.name];
  if (!link || !(link.node in fields) || link.id in fields || !atLeast(obj.version, link.since)) return fields;
  return { ...fields, [link.id]: fields[link.node] === null ? null : computeNodeId };
}
