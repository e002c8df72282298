/**
 * The Console tab of a server on the second compute host, in a real browser (Debian's chromium
 * through playwright-core): nova-serialproxy, in the machine's namespace, connects to the port
 * that host's nova-container listens on in namespace nc-host2, on the namespace's end of the
 * host's console link (devstack/lib/compute_hosts.sh). The server is project moves' (the only
 * one whose servers go there) and the admin opens it in that project. Screenshots:
 * test-artifacts/second-host-console/. Runs alone: beside another browser test it would share
 * namespace nc-browser's forwarder, which the first browser to close takes down
 * (test/integration/clients/horizon-ui.ts).
 */
import { strict as assert } from 'node:assert';
import { join } from 'node:path';
import type Docker from 'dockerode';
import type { Browser, Page } from 'playwright-core';
import { RUN } from '../lifecycle/fixture.js';
import { Created, bootOnHost, execIn, getServer, waitForStatus } from '../../helpers/servers.js';
import { openstack, type ExtraHost } from '../../helpers/cloud.js';
import { twoHosts } from '../../helpers/two-hosts.js';
import {
  ARTIFACTS, CONSOLE_COMMAND, CONSOLE_PRINTED, HORIZON_URL, Screenshots, horizonUp, launchChromium, login, openConsole, rcCredentials,
  shellImage, typeLine, waitForConsole,
} from '../clients/horizon-ui.js';

describe('the Console tab of a server on the second compute host', function () {
  this.timeout(300_000);
  const created = new Created();
  let host: ExtraHost;
  let engine2: Docker;
  let shots: Screenshots;
  let browser: Browser | undefined;
  let page: Page;
  let serverId = '';
  let image = '';

  before(async function () {
    this.timeout(1_200_000);
    ({ second: host, engine2 } = await twoHosts());
    await horizonUp();
    shots = new Screenshots(join(ARTIFACTS, '..', 'second-host-console'));
    image = await shellImage(created, `${RUN}-shell2`);
    serverId = await bootOnHost(`${RUN}-console2`, image, host.name, 'movesrc', 'private');
    created.servers.add(serverId);
    await waitForStatus(serverId, 'ACTIVE', 180_000);
    browser = await launchChromium();
    const context = await browser.newContext({ viewport: { width: 1400, height: 1000 } });
    context.setDefaultTimeout(30_000);
    page = await context.newPage();
    const credentials = rcCredentials('movesrc');
    await login(page, credentials);
    // Horizon starts in the user's default project: into project moves, where the server is
    const project = (await openstack<string>(['project', 'show', credentials.project, '-f', 'value', '-c', 'id'], false)).trim();
    await page.goto(`${HORIZON_URL}/auth/switch/${project}/?next=/project/instances/`);
  });

  afterEach(async function () {
    if (this.currentTest?.state === 'failed' && browser) await shots.take(page, 'failed').catch(() => undefined);
  });

  after(async function () {
    this.timeout(300_000);
    await browser?.close();
    await created.cleanup();
    if (image) await engine2?.getImage(`glance-image:${image}`).remove().catch(() => undefined);
  });

  it(`on the second host, types ${CONSOLE_COMMAND} in the Console tab and sees ${CONSOLE_PRINTED}, run in that host's container`, async () => {
    assert.equal((await getServer(serverId))?.['OS-EXT-SRV-ATTR:host'], host.name, 'the server runs on the second host');
    await openConsole(page, serverId);
    await typeLine(page, `${CONSOLE_COMMAND} | tee /console-proof`);
    await waitForConsole(page, new RegExp(`^${CONSOLE_PRINTED}$`, 'm'), CONSOLE_PRINTED);
    await shots.take(page, 'console-42-on-second-host');
    const proof = await execIn(serverId, ['cat', '/console-proof'], engine2);
    assert.equal(proof.output.trim(), CONSOLE_PRINTED, 'the line typed in the browser ran in the second host\'s container');
  });
});
