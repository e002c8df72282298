/** Reads the real Nova Zed AMQP traces copied into test/fixtures/nova-zed-traces/rpc. */
import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';

export const TRACE_DIR = fileURLToPath(new URL('../../../test/fixtures/nova-zed-traces/rpc/', import.meta.url));

export interface TraceMessage { 'oslo.message_decoded': Record<string, unknown>; amqp_body: Record<string, unknown> }
export interface Trace {
  file: string;
  summary: { method: string; objname?: string; objmethod?: string; rpc_kind: string };
  request: TraceMessage & { firehose_headers: Record<string, unknown> };
  replies?: TraceMessage[];
}

export function loadTraces(): Trace[] {
  return readdirSync(TRACE_DIR).filter((f) => f.endsWith('.json')).sort()
    .map((file) => ({ file, ...(JSON.parse(readFileSync(join(TRACE_DIR, file), 'utf8')) as Omit<Trace, 'file'>) }));
}
