/**
 * Horizon's Console tab types into the container, in a real browser (Debian's chromium through
 * playwright-core): the local cloud sets Horizon's CONSOLE_TYPE to SERIAL, so the tab frames
 * Horizon's serial page, whose terminal opens a websocket to nova-serialproxy, which connects to
 * the port nova-container listens on for the server (src/runtime/serial-consoles.ts), attached
 * to the container's TTY. The server's image runs a shell, as a distribution's base image does.
 *
 * One client at a time, as a VM's serial console: a second tab is told the console is in use,
 * and gets it once the first one is closed. After a restart of nova-container the tab works
 * again (the port is kept and listened on again). The server is the demo project's and its
 * user (a member, not an admin) opens the console. Runs alone: it restarts the service.
 * Screenshots of every step: test-artifacts/horizon-console/.
 */
import { strict as assert } from 'node:assert';
import { join } from 'node:path';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { RUN } from '../lifecycle/fixture.js';
import { Created, execIn, novaContainerPid, restartCompute, waitForStatus } from '../../helpers/servers.js';
import {
  ARTIFACTS, CONSOLE_COMMAND as COMMAND, CONSOLE_PRINTED as PRINTED, HORIZON_URL, Screenshots, horizonUp, launchChromium, login, openConsole,
  rcCredentials, shellImage, typeLine, waitForConsole,
} from './horizon-ui.js';

describe('Horizon in a browser: the Console tab types into the container', function () {
  this.timeout(300_000);
  const created = new Created();
  let shots: Screenshots;
  let browser: Browser | undefined;
  let context: BrowserContext;
  let page: Page;
  let serverId = '';

  before(async function () {
    this.timeout(1_200_000);
    await horizonUp();
    shots = new Screenshots(join(ARTIFACTS, '..', 'horizon-console'));
    const image = await shellImage(created, `${RUN}-shell`);
    // the demo project's server, its console opened by demo (a member, not an admin)
    serverId = await created.boot(`${RUN}-console`, { image, rc: 'demorc' });
    await waitForStatus(serverId, 'ACTIVE', 120_000);
    browser = await launchChromium();
    context = await browser.newContext({ viewport: { width: 1400, height: 1000 } });
    context.setDefaultTimeout(30_000);
    page = await context.newPage();
    await login(page, rcCredentials('demorc'));
  });

  afterEach(async function () {
    if (this.currentTest?.state === 'failed' && browser) {
      for (const [i, p] of context.pages().entries()) {
        const label = `failed-${i}-${(this.currentTest.title.split(':')[0] ?? 'step').replace(/[^a-z0-9]+/gi, '-').toLowerCase()}`;
        await shots.take(p, label).catch(() => undefined);
      }
    }
  });

  after(async function () {
    this.timeout(300_000);
    await browser?.close();
    await created.cleanup();
  });

  it(`types ${COMMAND} in the Console tab and sees ${PRINTED}`, async () => {
    await openConsole(page, serverId);
    await typeLine(page, COMMAND);
    const text = await waitForConsole(page, new RegExp(`^${PRINTED}$`, 'm'), `${PRINTED} on a line of its own`);
    assert.ok(text.includes(COMMAND), `the typed command is echoed by the container's TTY:\n${text}`);
    await shots.take(page, 'console-42');
  });

  it('a second tab is told the console is in use, and gets it once the first tab is closed', async () => {
    const second = await context.newPage();
    await second.goto(`${HORIZON_URL}/project/instances/${serverId}/?tab=instance_details__console`);
    await waitForConsole(second, /in use by another client/, 'the refusal');
    await shots.take(second, 'second-tab-refused');
    // the first tab still types into the container
    await typeLine(page, 'echo FIRST-$((1+1))');
    await waitForConsole(page, /^FIRST-2$/m, 'FIRST-2');
    await page.close();
    page = second;
    // the proxy closes its connection when the first tab's websocket goes: the console is free
    // at once, or after a reload that came too early
    for (let attempt = 1; ; attempt++) {
      try {
        await openConsole(page, serverId);
        break;
      } catch (err) {
        if (attempt === 5) throw err;
      }
    }
    await typeLine(page, COMMAND);
    await waitForConsole(page, new RegExp(`^${PRINTED}$`, 'm'), PRINTED);
    await shots.take(page, 'second-tab-after-first-closed');
  });

  it('after a restart of nova-container, the tab types into the same container again', async () => {
    await restartCompute(novaContainerPid());
    await openConsole(page, serverId);
    await typeLine(page, `${COMMAND} | tee /console-proof`);
    await waitForConsole(page, new RegExp(`^${PRINTED}$`, 'm'), PRINTED);
    await shots.take(page, 'after-restart');
    const proof = await execIn(serverId, ['cat', '/console-proof']);
    assert.equal(proof.output.trim(), PRINTED, 'the line typed in the browser ran in the server\'s container');
  });
});
