/** `npm run bench`: runs every benchmark and prints its figures as JSON, one line each. */
import { bootBench } from './boot.js';
import { saveCostBench } from './save-cost.js';
import { snapshotBench } from './snapshot.js';

const results = { boot: await bootBench(), save: await saveCostBench(), snapshot: await snapshotBench() };
for (const [name, r] of Object.entries(results)) process.stdout.write(`${name} ${JSON.stringify(r)}\n`);
