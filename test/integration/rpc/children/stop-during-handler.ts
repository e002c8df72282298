/**
 * A process that serves a topic on the test vhost, casts itself `slow` (a handler that runs
 * 500 ms), and closes its RPC runtime while that handler runs, as nova-container's SIGTERM does.
 * It never calls process.exit: it ends when nothing of the runtime is left holding it. Prints
 * `closed <ms>` once close() returned (stop-during-handler.test.ts reads it).
 */
import { adminContext } from '../../../../src/nova-driver/context.js';
import { connectComputeRpc } from '../../../../src/nova-driver/messaging-config.js';
import type { Endpoint } from '../../../../src/messaging/types.js';
import { createLogger } from '../../../../src/common/log.js';
import { TEST_TRANSPORT_URL } from '../../../helpers/rabbitmq.js';

const [topic, stopTimeoutMs] = [process.argv[2], Number(process.argv[3])];
const log = createLogger({ level: 'warn' });
let started: () => void = () => undefined;
const handlerStarted = new Promise<void>((resolve) => { started = resolve; });
const endpoint: Endpoint = {
  namespace: null, version: '6.1',
  handlers: {
    async slow() {
      started();
      await new Promise((r) => setTimeout(r, 500));
    },
  },
};
const rpc = await connectComputeRpc({ transport_url: TEST_TRANSPORT_URL }, log);
await rpc.serve({ topic, server: 'stophost' }, [endpoint], { stopTimeoutMs });
await rpc.client.cast({ topic, server: 'stophost', version: '6.0' }, adminContext(), 'slow', {});
await handlerStarted;
const t0 = Date.now();
await rpc.close();
process.stdout.write(`closed ${Date.now() - t0}\n`);
