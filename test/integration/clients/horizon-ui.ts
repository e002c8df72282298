/**
 * Horizon of the local cloud (on unless HORIZON=no) in a real browser:
 * Debian's chromium driven by playwright-core, screenshots of each step under
 * test-artifacts/horizon/, and the few page interactions the Horizon tests share.
 */
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { chromium, type Browser, type Locator, type Page } from 'playwright-core';
import { CLOUD_DIR, REPO, cloudSetting, ensureCloudPart, type RcFile } from '../../helpers/cloud.js';

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

export async function launchChromium(): Promise<Browser> {
  return chromium.launch({ executablePath: CHROMIUM, headless: true, args: ['--no-sandbox'] });
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
