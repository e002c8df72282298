/**
 * Horizon, in a real browser (Debian's chromium through playwright-core), driving a container
 * server from launch to delete as a user of the dashboard does: log in as demo; Launch Instance
 * wizard (Details: name; Source: Boot Source "Image", the lifecycle tests' busybox container
 * image, no new volume; Flavor m1.tiny; Networks: private); the row turns Active in the
 * Instances table; the instance's Log tab shows what the container printed; Create Snapshot
 * from the row gives an image that Horizon and Glance show active; Delete Instance removes the
 * row, and the openstack CLI and the engine confirm that no server and no container remain.
 *
 * `before` brings Horizon up when the cloud does not run it (`HORIZON=yes devstack/local-cloud.sh
 * up`: openstack-dashboard and chromium installed the first time). Screenshots of every step: test-artifacts/horizon/.
 */
import { strict as assert } from 'node:assert';
import type { Browser, Locator, Page } from 'playwright-core';
import { sharedImage, MARKER } from '../lifecycle/fixture.js';
import {
  Created, cli, glanceImage, inspectContainer, containerNameOf, engine, getServer, summary, type Server,
} from '../../helpers/servers.js';
import { computeGet } from '../../helpers/rest.js';
import {
  HORIZON_URL, Screenshots, horizonUp, instanceRow, launchChromium, login, rcCredentials, reloadUntil,
} from './horizon-ui.js';

const RUN = `nchz-${Date.now().toString(36)}`;
const SERVER_NAME = `${RUN}-vm`;
const SNAPSHOT_NAME = `${RUN}-snap`;
const FLAVOR = 'm1.tiny';
const NETWORK = 'private';

/** Seconds each step took, printed after the run and saved as timings.json. */
const timings: Record<string, number> = {};
async function timed<T>(label: string, fn: () => Promise<T>): Promise<T> {
  const t0 = Date.now();
  try {
    return await fn();
  } finally {
    timings[label] = Number(((Date.now() - t0) / 1000).toFixed(2));
  }
}

function escapeRegExp(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/** A cell of Horizon's angular tables (the wizard's transfer tables) holding exactly `text`. */
function cell(page: Page, text: string): Locator {
  return page.locator('hz-cell', { hasText: new RegExp(`^\\s*${escapeRegExp(text)}\\s*$`) });
}

/** The name column of each row in a transfer table's Allocated part (after the checkbox and expander cells). */
async function allocatedNames(allocated: Locator): Promise<string[]> {
  return (await allocated.locator('tr:has(hz-cell) > td:nth-child(3)').allInnerTexts()).map((t) => t.trim());
}

/** The server named `name` (any project), via the compute API as admin; null when there is none. */
async function serverByName(name: string): Promise<Server | null> {
  const r = await computeGet<{ servers: Server[] }>(`/servers/detail?all_tenants=1&name=${encodeURIComponent(`^${name}$`)}`);
  if (r.status !== 200) throw new Error(`GET /servers/detail: HTTP ${r.status}`);
  if (r.data.servers.length > 1) throw new Error(`${r.data.servers.length} servers named ${name}`);
  return r.data.servers[0] ?? null;
}

/** Glance ids of the images named `name` (any project; the CLI as admin). */
async function imageIdsByName(name: string): Promise<string[]> {
  return (await cli(['image', 'list', '--name', name, '-f', 'value', '-c', 'ID'])).split('\n').map((s) => s.trim()).filter(Boolean);
}

describe('Horizon in a browser: launch, log, snapshot and delete of a container server', function () {
  this.timeout(300_000);
  const created = new Created();
  let shots: Screenshots;
  let browser: Browser | undefined;
  let page: Page;
  let image: { id: string; name: string };
  let serverId = '';
  const browserFailures: string[] = [];

  before(async function () {
    this.timeout(1_200_000);
    timings['Horizon up'] = await horizonUp();
    shots = new Screenshots();
    image = await sharedImage();
    browser = await timed('chromium launch', () => launchChromium());
    const context = await browser.newContext({ viewport: { width: 1400, height: 1000 } });
    context.setDefaultTimeout(30_000);
    page = await context.newPage();
    // what the browser saw fail, for the artifacts of a failed step (uwsgi logs only what reached it)
    page.on('requestfailed', (r) => browserFailures.push(`${new Date().toISOString()} ${r.method()} ${r.url()}: ${r.failure()?.errorText ?? 'failed'}`));
    page.on('response', (r) => { if (r.status() >= 400) browserFailures.push(`${new Date().toISOString()} ${r.request().method()} ${r.url()}: HTTP ${r.status()}`); });
  });

  afterEach(async function () {
    if (this.currentTest?.state === 'failed' && browser) {
      const label = `failed-${(this.currentTest.title.split(':')[0] ?? 'step').replace(/[^a-z0-9]+/gi, '-').toLowerCase()}`;
      await shots.take(page, label).catch(() => undefined);
      shots.write(`${label}.html`, await page.content().catch((e: unknown) => String(e)));
      shots.write(`${label}-requests.txt`, `${browserFailures.join('\n')}\n`);
      console.log(`      requests that failed in the browser: ${browserFailures.length ? `\n        ${browserFailures.join('\n        ')}` : 'none'}`);
    }
  });

  after(async function () {
    this.timeout(300_000);
    // the server (if the test did not delete it) and the snapshot image, also after a failure
    const left = await serverByName(SERVER_NAME).catch(() => null);
    if (left) created.servers.add(left.id);
    for (const id of await imageIdsByName(SNAPSHOT_NAME).catch(() => [] as string[])) {
      created.images.add(id);
      created.engineRefs.add(`glance-image:${id}`);
    }
    await created.cleanup();
    await browser?.close();
    if (shots) shots.write('timings.json', `${JSON.stringify(timings, null, 2)}\n`);
    console.log(`      timings (s): ${JSON.stringify(timings)}`);
  });

  it('logs in as demo (credentials of demorc) and lands on the project overview', async () => {
    const demo = rcCredentials('demorc');
    await timed('login', () => login(page, demo));
    assert.equal(new URL(page.url()).pathname, '/project/');
    await page.locator('h1', { hasText: 'Overview' }).waitFor();
    await shots.take(page, 'logged-in-overview');
    // the project switcher names the demo project
    assert.match(await page.locator('.context-project').first().innerText(), new RegExp(demo.project));
  });

  it('launches an instance through the Launch Instance wizard', async () => {
    await page.goto(`${HORIZON_URL}/project/instances/`);
    await page.locator('#instances__action_launch-ng').click();
    const wizard = page.locator('.modal-dialog', { hasText: 'Launch Instance' });
    await wizard.locator('#name').waitFor();

    // Details
    await wizard.locator('#name').fill(SERVER_NAME);
    await shots.take(page, 'wizard-details');

    // Source: boot from an image, no new volume
    await wizard.locator('.wizard-nav li', { hasText: 'Source' }).click();
    const bootSource = wizard.locator('#boot-source-type');
    await bootSource.selectOption({ label: 'Image' });
    const volumeToggle = wizard.locator('label#vol-create:visible');
    const hasCinder = /\bvolumev3\b/.test(await cli(['catalog', 'list', '-f', 'value', '-c', 'Type']));
    if (hasCinder) {
      await volumeToggle.filter({ hasText: 'No' }).click();
      assert.match(await volumeToggle.filter({ hasText: 'No' }).getAttribute('class') ?? '', /\bactive\b/);
    } else {
      // no volume service in the catalog: the wizard offers no "Create New Volume" at all, so the
      // image boots without one
      assert.equal(await page.getByText('Create New Volume').filter({ visible: true }).count(), 0, 'no Create New Volume toggle without Cinder');
    }
    const available = wizard.locator('.transfer-available:visible');
    const allocated = wizard.locator('.transfer-allocated:visible');
    await available.locator('tr', { has: cell(page, image.name) }).locator('button.fa-arrow-up').click();
    await allocated.locator('tr', { has: cell(page, image.name) }).waitFor();
    assert.deepEqual(await allocatedNames(allocated), [image.name], 'the container image is the one allocated source');
    await shots.take(page, 'wizard-source');

    // Flavor
    await wizard.locator('.wizard-nav li', { hasText: 'Flavor' }).click();
    await available.locator('tr', { has: cell(page, FLAVOR) }).locator('button.fa-arrow-up').click();
    await allocated.locator('tr', { has: cell(page, FLAVOR) }).waitFor();
    assert.deepEqual(await allocatedNames(allocated), [FLAVOR]);
    await shots.take(page, 'wizard-flavor');

    // Networks: private (Horizon allocates it by itself when it is the only network)
    await wizard.locator('.wizard-nav li', { hasText: /^\s*Networks\s*$/ }).click();
    const privateAvailable = available.locator('tr', { has: cell(page, NETWORK) });
    if (await privateAvailable.count()) await privateAvailable.locator('button.fa-arrow-up').click();
    await allocated.locator('tr', { has: cell(page, NETWORK) }).waitFor();
    assert.deepEqual(await allocatedNames(allocated), [NETWORK], 'exactly one network allocated');
    await shots.take(page, 'wizard-networks');

    const launch = wizard.locator('button', { hasText: 'Launch Instance' });
    assert.ok(await launch.isEnabled(), 'Launch Instance is enabled once every required step is filled');
    await timed('launch click to server record', async () => {
      await launch.click();
      await wizard.waitFor({ state: 'detached' });
      const s = await reloadUntil(page, `${HORIZON_URL}/project/instances/`, 'the server record',
        async () => (await serverByName(SERVER_NAME)) !== null, 60_000, 500);
      return s;
    });
    const server = await serverByName(SERVER_NAME);
    assert.ok(server, `server ${SERVER_NAME} exists`);
    serverId = server.id;
    created.servers.add(serverId);
  });

  it('shows the instance Active in the Instances table', async () => {
    assert.ok(serverId, 'an instance was launched');
    const row = instanceRow(page, serverId);
    await timed('launch to Active in the table', () => reloadUntil(page, `${HORIZON_URL}/project/instances/`, 'the row to be Active',
      async () => {
        const s = await getServer(serverId);
        if (s?.status === 'ERROR') throw new Error(`server ${serverId} went to ERROR: ${summary(s)}`);
        return (await row.count()) > 0 && (await row.locator('td').filter({ hasText: /^\s*Active\s*$/ }).count()) > 0;
      }, 120_000, 1000));
    await shots.take(page, 'instances-active');
    const text = await row.innerText();
    assert.match(text, new RegExp(SERVER_NAME));
    assert.match(text, new RegExp(image.name));
    assert.match(text, new RegExp(escapeRegExp(FLAVOR)));
    assert.match(text, /10\.20\.0\.\d+/, 'an address on private');
    assert.match(text, /Running/, 'power state Running');
    const s = await getServer(serverId);
    assert.equal(s?.status, 'ACTIVE');
    assert.equal((s as unknown as { image: { id: string } }).image.id, image.id, 'booted from the container image');
    assert.equal(s?.flavor.original_name, FLAVOR);
    assert.ok(s?.addresses[NETWORK]?.length, `the server has an address on ${NETWORK}`);
    assert.equal((await inspectContainer(serverId))?.State.Running, true, 'its container runs');
  });

  it('shows what the container printed in the instance\'s Log tab', async () => {
    assert.ok(serverId, 'an instance was launched');
    await page.goto(`${HORIZON_URL}/project/instances/${serverId}/`);
    await page.locator('a[data-toggle="tab"]', { hasText: /^\s*Log\s*$/ }).click();
    const log = page.locator('pre.logs:visible');
    await timed('log tab shows the marker', () => log.filter({ hasText: MARKER }).waitFor({ timeout: 60_000 }));
    await shots.take(page, 'instance-log');
    const text = await log.innerText();
    assert.match(text, new RegExp(MARKER));
    assert.match(text, /PATH=/, 'the environment the image script prints');
  });

  it('takes a snapshot from the row action Create Snapshot; the image becomes active in Horizon and Glance', async () => {
    assert.ok(serverId, 'an instance was launched');
    await page.goto(`${HORIZON_URL}/project/instances/`);
    const row = instanceRow(page, serverId);
    await row.locator(`#instances__row_${serverId}__action_snapshot`).click();
    const form = page.locator('.modal-dialog', { hasText: 'Create Snapshot' });
    await form.locator('#id_name').fill(SNAPSHOT_NAME);
    await shots.take(page, 'create-snapshot-form');
    await Promise.all([
      page.waitForURL((u) => u.pathname.startsWith('/project/images'), { timeout: 60_000 }),
      form.locator('input[type="submit"], button[type="submit"]').click(),
    ]);
    await page.locator('.alert-success', { hasText: `Snapshot "${SNAPSHOT_NAME}" created for instance "${SERVER_NAME}"` }).waitFor();
    const ids = await imageIdsByName(SNAPSHOT_NAME);
    for (const id of ids) { created.images.add(id); created.engineRefs.add(`glance-image:${id}`); }
    assert.equal(ids.length, 1, `one image named ${SNAPSHOT_NAME}`);
    const imagesRow = page.locator('tr', { has: page.locator('a', { hasText: new RegExp(`^${SNAPSHOT_NAME}$`) }) });
    await timed('snapshot to active in the Images table', () => reloadUntil(page, `${HORIZON_URL}/project/images`, 'the snapshot to be Active',
      async () => (await imagesRow.filter({ hasText: /\bActive\b/ }).count()) > 0, 180_000, 1500));
    await shots.take(page, 'images-snapshot-active');
    assert.match(await imagesRow.innerText(), /Snapshot/, 'listed as a snapshot');
    const img = await glanceImage(ids[0]);
    assert.equal(img?.status, 'active');
    assert.ok((img?.size ?? 0) > 0, 'the snapshot has data');
    const props = JSON.parse(await cli(['image', 'show', ids[0], '-f', 'json'])) as Record<string, unknown>;
    assert.equal(props.container_format, 'docker');
    assert.equal((props.properties as Record<string, string>).image_type, 'snapshot');
    assert.equal((props.properties as Record<string, string>).instance_uuid, serverId);
  });

  it('deletes the instance from its row; the row goes, and no server or container remains', async () => {
    assert.ok(serverId, 'an instance was launched');
    await page.goto(`${HORIZON_URL}/project/instances/`);
    const row = instanceRow(page, serverId);
    await row.locator('.dropdown-toggle').click();
    await row.locator(`#instances__row_${serverId}__action_delete`).click();
    const confirm = page.locator('.modal-dialog', { hasText: 'Confirm Delete Instance' });
    await confirm.waitFor();
    await shots.take(page, 'confirm-delete');
    await timed('delete to row gone', async () => {
      // the confirmation posts the table's form; Horizon answers with the instances page again
      await Promise.all([page.waitForEvent('framenavigated'), confirm.locator('.btn-danger').click()]);
      await page.waitForLoadState('load');
      await page.locator('.alert', { hasText: `Scheduled deletion of Instance: ${SERVER_NAME}` }).waitFor();
      return reloadUntil(page, `${HORIZON_URL}/project/instances/`, 'the row to be gone', async () => (await row.count()) === 0, 120_000, 1000);
    });
    await shots.take(page, 'instances-after-delete');
    const list = JSON.parse(await cli(['server', 'list', '--all-projects', '--name', `^${SERVER_NAME}$`, '-f', 'json'])) as unknown[];
    assert.deepEqual(list, [], 'openstack server list --all-projects shows no such server');
    assert.equal(await getServer(serverId), null);
    assert.equal(await inspectContainer(serverId), null, `no container ${containerNameOf(serverId)}`);
    const left = await engine().listContainers({ all: true, filters: { name: [containerNameOf(serverId)] } });
    assert.deepEqual(left, []);
  });
});
