import { strict as assert } from 'node:assert';
import { NovaObject, type FieldValue } from '../../../src/nova-driver/objects/versioned-object.js';
import {
  containerSpec, environmentFrom, splitCommandLine, imagePropertiesFromSystemMetadata, LABEL_INSTANCE, LABEL_HOST,
} from '../../../src/nova-driver/manager/container-spec.js';
import { instanceFiles, METADATA_PATH, USER_DATA_PATH } from '../../../src/nova-driver/manager/instance-files.js';
import { powerStateOf, PowerState } from '../../../src/nova-driver/manager/states.js';
import { KeyedLock } from '../../../src/nova-driver/manager/keyed-lock.js';
import type { ContainerStatus } from '../../../src/runtime/types.js';

const UUID = '88053c39-4126-4371-a70f-d8204cd4c485';

function instance(extra: Record<string, unknown> = {}): NovaObject {
  return new NovaObject('Instance', '2.7', {
    uuid: UUID, hostname: 'vm1', display_name: 'vm one', vcpus: 1, memory_mb: 128, project_id: 'p1', availability_zone: 'nova',
    metadata: { FOO: 'bar', 'not-an-env': 'x', _ok2: 'y' },
    flavor: new NovaObject('Flavor', '1.2', { vcpus: 2, memory_mb: 256, root_gb: 1, ephemeral_gb: 0 }),
    ...(extra as Record<string, FieldValue>),
  } as Record<string, FieldValue>);
}

describe('instance -> container', () => {
  it('names and labels the container by instance uuid and host, limits from the flavor', () => {
    const s = containerSpec({ instance: instance(), host: 'h1', imageRef: 'img', glanceImageId: 'g1', imageProperties: {} });
    assert.equal(s.name, `nova-${UUID}`);
    assert.equal(s.labels[LABEL_INSTANCE], UUID);
    assert.equal(s.labels[LABEL_HOST], 'h1');
    assert.equal(s.vcpus, 2);
    assert.equal(s.memoryMb, 256);
    assert.equal(s.hostname, 'vm1');
    assert.equal(s.command, undefined, 'the image\'s own command by default');
  });

  it('turns metadata with env-name keys into the environment, skipping others', () => {
    assert.deepEqual(environmentFrom({ FOO: 'bar', 'a-b': 'x', '1X': 'y', _Z9: 'z' }), { env: { FOO: 'bar', _Z9: 'z' }, skipped: ['a-b', '1X'] });
  });

  it('os_command_line replaces the command, split like a shell', () => {
    const s = containerSpec({ instance: instance(), host: 'h', imageRef: 'i', glanceImageId: 'g', imageProperties: { os_command_line: `sh -c 'echo "hi there"; sleep 1'` } });
    assert.deepEqual(s.command, ['sh', '-c', 'echo "hi there"; sleep 1']);
    assert.deepEqual(splitCommandLine('a\\ b "c d" e'), ['a b', 'c d', 'e']);
    assert.throws(() => splitCommandLine('echo "open'), /unterminated/);
  });

  it('reads image properties back from system_metadata', () => {
    assert.deepEqual(imagePropertiesFromSystemMetadata({ image_os_command_line: 'x', image_min_ram: '0', owner_user_name: 'a' }), { os_command_line: 'x', min_ram: '0' });
  });

  it('puts user_data and the key pair at config-drive paths', () => {
    const files = instanceFiles(instance({ user_data: Buffer.from('#!/bin/sh\necho hi\n').toString('base64'), key_name: 'k', key_data: 'ssh-ed25519 AAAA k' }));
    const byPath = Object.fromEntries(files.map((f) => [f.path, f.content.toString()]));
    assert.equal(byPath[USER_DATA_PATH], '#!/bin/sh\necho hi\n');
    const meta = JSON.parse(byPath[METADATA_PATH]) as Record<string, unknown>;
    assert.deepEqual(meta.public_keys, { k: 'ssh-ed25519 AAAA k' });
    assert.equal(meta.uuid, UUID);
    assert.deepEqual(instanceFiles(instance()).map((f) => f.path), [METADATA_PATH], 'no user_data file without user data');
  });
});

describe('power states', () => {
  const c = (state: ContainerStatus['state']) => ({ state }) as ContainerStatus;
  it('maps container states to Nova power states', () => {
    assert.equal(powerStateOf(null), PowerState.NOSTATE);
    assert.equal(powerStateOf(c('running')), PowerState.RUNNING);
    assert.equal(powerStateOf(c('paused')), PowerState.PAUSED);
    assert.equal(powerStateOf(c('paused'), 'suspended'), PowerState.SUSPENDED);
    assert.equal(powerStateOf(c('exited')), PowerState.SHUTDOWN);
    assert.equal(powerStateOf(c('dead')), PowerState.CRASHED);
  });
});

describe('KeyedLock', () => {
  it('runs one operation per key at a time, in order, and others in parallel', async () => {
    const lock = new KeyedLock();
    const log: string[] = [];
    const step = (key: string, name: string, ms: number) => lock.run(key, async () => {
      log.push(`${name}+`);
      await new Promise((r) => setTimeout(r, ms));
      log.push(`${name}-`);
    });
    await Promise.all([step('a', 'a1', 20), step('a', 'a2', 1), step('b', 'b1', 5)]);
    assert.ok(log.indexOf('a1-') < log.indexOf('a2+'), log.join(' '));
    assert.ok(log.indexOf('b1+') < log.indexOf('a1-'), 'b does not wait for a');
    assert.deepEqual(lock.busy(), []);
  });

  it('keeps going after a failed operation', async () => {
    const lock = new KeyedLock();
    await assert.rejects(lock.run('k', async () => { throw new Error('x'); }));
    assert.equal(await lock.run('k', async () => 42), 42);
  });
});
