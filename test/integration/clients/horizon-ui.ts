/**
 * Horizon of the local cloud (on unless HORIZON=no) in a real browser:
 * Debian's chromium driven by playwright-core, screenshots of each step under
 * test-artifacts/horizon/, and the few page interactions the Horizon tests share.
 */
import { execFileSync, spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type Browser, type Frame, type Locator, type Page } from 'playwright-core';
import { CLOUD_DIR, REPO, cloudSetting, ensureCloudPart, waitFor, type RcFile } from '../../helpers/cloud.js';
import { engine, importRootfsWith, type Created } from '../../helpers/servers.js';
import { busyboxRootfs, saveImage } from '../glance-bridge/images.js';

const HORIZON_PORT = process.env.HORIZON_PORT ?? cloudSetting('HORIZON_PORT') ?? '8080';
export const HORIZON_URL = `http://127.0.0.1:${HORIZON_PORT}`;
export const CHROMIUM = '/usr/bin/chromium';
export const ARTIFACTS = join(REPO, 'test-artifacts', 'horizon');

/**
 * Horizon up: `HORIZON=yes local-cloud.sh up` when the cloud does not run it (installs
 * openstack-dashboard and chromium the first time). Returns the seconds it took.
 */
export async function horizonUp(): Promise<number> {
  const t0 = Date.now();
  try {
    await ensureCloudPart('HORIZON', ['horizon'], Number(HORIZON_PORT));
  } catch (err) {
    const e = err as Error & { stderr?: string };
    throw new Error(`HORIZON=yes local-cloud.sh up failed: ${e.message}\n${(e.stderr ?? '').split('\n').slice(-30).join('\n')}`);
  }
  return (Date.now() - t0) / 1000;
}

export interface Credentials { username: string; password: string; project: string }

/** User, password and project of one of the cloud's rc files (`openrc`: admin, `demorc`: demo). */
export function rcCredentials(file: RcFile): Credentials {
  const text = readFileSync(join(CLOUD_DIR, file), 'utf8');
  const get = (k: string): string => {
    const m = new RegExp(`^\\s*export\\s+${k}=(.*)$`, 'm').exec(text);
    if (!m) throw new Error(`${k} missing in ${file}`);
    return m[1].replace(/^["']|["']$/g, '');
  };
  return { username: get('OS_USERNAME'), password: get('OS_PASSWORD'), project: get('OS_PROJECT_NAME') };
}

const BROWSER_NETNS = 'nc-browser';

/**
 * Chromium in network namespace nc-browser, where no interface ever comes or goes, with
 * Horizon's and nova-serialproxy's ports reaching the cloud through devstack/lib/netns-forward.
 * In the machine's own namespace Chromium aborts requests under way with
 * net::ERR_NETWORK_CHANGED whenever an address comes or goes on one of the machine's
 * interfaces, as it does while the tests beside it plug and unplug: CI's Launch Instance wizard
 * then showed "Unable to retrieve the images" for requests that never reached Horizon.
 */
export async function launchChromium(): Promise<Browser> {
  execFileSync('bash', ['-c', `[ -e /run/netns/${BROWSER_NETNS} ] || ip netns add ${BROWSER_NETNS}; ip -n ${BROWSER_NETNS} link set lo up`]);
  const dir = mkdtempSync(join(tmpdir(), 'nc-browser-'));
  const ports = [HORIZON_PORT, process.env.NOVA_SERIALPROXY_PORT ?? cloudSetting('NOVA_SERIALPROXY_PORT') ?? '6083'];
  // its own process group: netns-forward ends its socats with `kill 0`
  const forward = spawn(join(REPO, 'devstack', 'lib', 'netns-forward'), [BROWSER_NETNS, join(dir, 'sockets'), ...ports], { detached: true, stdio: 'ignore' });
  const stop = () => {
    try { process.kill(-(forward.pid ?? 0), 'SIGTERM'); } catch { /* ended */ }
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    const wrapper = join(dir, 'chromium');
    writeFileSync(wrapper, `#!/bin/sh\nexec ip netns exec ${BROWSER_NETNS} ${CHROMIUM} "$@"\n`, { mode: 0o755 });
    await waitFor('the browser\'s namespace to reach Horizon', async () => {
      try {
        execFileSync('ip', ['netns', 'exec', BROWSER_NETNS, 'bash', '-c', `exec 3<>/dev/tcp/127.0.0.1/${HORIZON_PORT}`], { stdio: 'ignore' });
        return true;
      } catch {
        return false;
      }
    }, 10_000, 100);
    const browser = await chromium.launch({ executablePath: wrapper, headless: true, args: ['--no-sandbox'] });
    browser.on('disconnected', stop);
    return browser;
  } catch (err) {
    stop();
    throw err;
  }
}

/** Numbered screenshots of the steps (01-login.png, ...), the directory emptied first. */
export class Screenshots {
  private n = 0;
  readonly taken: string[] = [];

  constructor(readonly dir = ARTIFACTS) {
    rmSync(dir, { recursive: true, force: true });
    mkdirSync(dir, { recursive: true });
  }

  async take(page: Page, label: string): Promise<string> {
    const file = join(this.dir, `${String(++this.n).padStart(2, '0')}-${label}.png`);
    await page.screenshot({ path: file });
    this.taken.push(file);
    return file;
  }

  write(name: string, content: string): void {
    writeFileSync(join(this.dir, name), content);
  }
}

export async function login(page: Page, c: Credentials): Promise<void> {
  await page.goto(`${HORIZON_URL}/auth/login/`);
  await page.locator('#id_username').fill(c.username);
  await page.locator('#id_password').fill(c.password);
  await Promise.all([page.waitForURL((u) => !u.pathname.startsWith('/auth/login'), { timeout: 60_000 }), page.locator('#loginBtn').click()]);
}

/** The Django table row of an instance on /project/instances/. */
export function instanceRow(page: Page, serverId: string): Locator {
  return page.locator(`#instances__row__${serverId}`);
}

/**
 * Reloads `url` every `everyMs` until `check` is true on the page (Horizon's own row polling
 * only covers rows in transition); returns the seconds it took.
 */
export async function reloadUntil(page: Page, url: string, what: string, check: () => Promise<boolean>,
  timeoutMs: number, everyMs = 2000): Promise<number> {
  const t0 = Date.now();
  for (;;) {
    if (await check()) return (Date.now() - t0) / 1000;
    if (Date.now() - t0 > timeoutMs) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what} on ${url}`);
    await page.waitForTimeout(everyMs);
    await page.goto(url);
  }
}

/**
 * A public Glance image `name` whose command is a shell, as a distribution's base image's
 * (busybox, alpine, debian): what a console types into. Deleted with `created`.
 */
export async function shellImage(created: Created, name: string): Promise<string> {
  const ref = `${name}:v1`;
  await importRootfsWith(await busyboxRootfs(), ref, ['CMD ["/bin/sh"]']);
  const archive = await saveImage(engine(), ref);
  await engine().getImage(ref).remove({ force: true });
  return created.uploadImage(name, archive);
}

/** What the console tests type into a server's shell, and what it prints. */
export const CONSOLE_COMMAND = 'echo CONSOLE-$((6*7))';
export const CONSOLE_PRINTED = 'CONSOLE-42';

/** The terminal of the Console tab's frame (Horizon's serial page). */
async function consoleFrame(page: Page): Promise<Frame> {
  await page.locator('#console_embed').waitFor();
  for (const until = Date.now() + 30_000; Date.now() < until; await page.waitForTimeout(200)) {
    const frame = page.frames().find((f) => /\/project\/instances\/[^/]+\/serial$/.test(f.url()));
    if (frame && await frame.locator('.terminal').count() > 0) return frame;
  }
  throw new Error('the Console tab shows no terminal of the serial console');
}

/** The terminal's text, its rows without the blanks term.js fills them with (no-break spaces). */
async function consoleText(page: Page): Promise<string> {
  const text = await (await consoleFrame(page)).locator('body').innerText();
  return text.replace(/\u00a0/g, ' ').split('\n').map((l) => l.trimEnd()).join('\n').trim();
}

/** Until the tab's terminal shows text matching `re`; that text. */
export async function waitForConsole(page: Page, re: RegExp, what: string, timeoutMs = 30_000): Promise<string> {
  let text = '';
  for (const until = Date.now() + timeoutMs; Date.now() < until; await page.waitForTimeout(250)) {
    text = await consoleText(page);
    if (re.test(text)) return text;
  }
  throw new Error(`the console did not show ${what} within ${timeoutMs} ms; it shows:\n${text.trimEnd()}`);
}

/** The Console tab of the server, its shell's prompt shown (the page sends a return on connecting). */
export async function openConsole(page: Page, serverId: string): Promise<void> {
  await page.goto(`${HORIZON_URL}/project/instances/${serverId}/?tab=instance_details__console`);
  await waitForConsole(page, /#$/m, 'the shell\'s prompt');
}

/** Types `line` and a return into the tab's terminal, as a user does (a click on the terminal first). */
export async function typeLine(page: Page, line: string): Promise<void> {
  await page.locator('#console_embed').click();
  await page.keyboard.type(`${line}\n`, { delay: 10 });
}
