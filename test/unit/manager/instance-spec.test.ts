import { strict as assert } from 'node:assert';
import { NovaObject, type FieldValue } from '../../../src/nova-driver/objects/versioned-object.js';
import { instanceSpec, splitCommandLine } from '../../../src/nova-driver/manager/instance-spec.js';
import {
  environmentFrom, powerStateOf, sandboxSpec, workloadSpec, LABEL_INSTANCE, LABEL_HOST, LABEL_ROLE, ROLE_SANDBOX,
} from '../../../src/runtime/instance-containers.js';
import { instanceFiles, METADATA_PATH, USER_DATA_PATH } from '../../../src/nova-driver/manager/instance-files.js';
import { powerStateFor, PowerState } from '../../../src/nova-driver/manager/states.js';
import type { ContainerStatus } from '../../../src/runtime/types.js';

const UUID = '88053c39-4126-4371-a70f-d8204cd4c485';
const POLICY = { pidsPerVcpu: 512, enforceRootDisk: true };

function instance(extra: Record<string, unknown> = {}): NovaObject {
  return new NovaObject('Instance', '2.7', {
    uuid: UUID, hostname: 'vm1', display_name: 'vm one', vcpus: 1, memory_mb: 128, project_id: 'p1', availability_zone: 'nova',
    metadata: { FOO: 'bar', 'not-an-env': 'x', _ok2: 'y' },
    flavor: new NovaObject('Flavor', '1.2', { vcpus: 2, memory_mb: 256, root_gb: 1, ephemeral_gb: 0 }),
    ...(extra as Record<string, FieldValue>),
  } as Record<string, FieldValue>);
}

describe('instance -> containers', () => {
  it('names and labels the workload by instance uuid and host, limits from the flavor, in its sandbox\'s network', () => {
    const spec = instanceSpec(instance(), {}, POLICY);
    assert.equal(spec.hostname, 'vm1');
    assert.equal(spec.command, undefined, 'the image\'s own command by default');
    const s = workloadSpec(spec, 'h1', 'img', 'g1', { joinNetworkOf: 'sandbox-id' });
    assert.equal(s.name, `nova-${UUID}`);
    assert.equal(s.labels[LABEL_INSTANCE], UUID);
    assert.equal(s.labels[LABEL_HOST], 'h1');
    assert.equal(s.labels[LABEL_ROLE], undefined);
    assert.deepEqual(s.limits, { vcpus: 2, memoryMb: 256, pids: 2 * POLICY.pidsPerVcpu, rootGb: 1 });
    assert.equal(s.joinNetworkOf, 'sandbox-id');
    assert.equal(s.hostname, undefined, 'a workload has its sandbox\'s host name');
    const own = workloadSpec(spec, 'h1', 'img', 'g1', { hostname: 'vm1' });
    assert.equal(own.hostname, 'vm1', 'one in a namespace of its own has the instance\'s');
    assert.equal(own.joinNetworkOf, undefined);
    assert.deepEqual(s.env, { FOO: 'bar', _ok2: 'y' });
  });

  it('gives the sandbox the host name, a role label and its own namespace', () => {
    const spec = instanceSpec(instance(), {}, POLICY);
    const s = sandboxSpec(spec.uuid, spec.hostname, 'h1', 'nova-container/sandbox:x');
    assert.equal(s.name, `nova-${UUID}-net`);
    assert.equal(s.hostname, 'vm1');
    assert.equal(s.labels[LABEL_ROLE], ROLE_SANDBOX);
    assert.equal(s.labels[LABEL_INSTANCE], UUID);
    assert.equal(s.joinNetworkOf, undefined);
    assert.deepEqual(s.limits, { memoryMb: 16, pids: 8 }, 'its pause process alone');
  });

  it('turns metadata with env-name keys into the environment, skipping others', () => {
    assert.deepEqual(environmentFrom({ FOO: 'bar', 'a-b': 'x', '1X': 'y', _Z9: 'z' }), { FOO: 'bar', _Z9: 'z' });
  });

  it('os_command_line replaces the command, split like a shell', () => {
    const s = instanceSpec(instance(), { os_command_line: `sh -c 'echo "hi there"; sleep 1'` }, POLICY);
    assert.deepEqual(s.command, ['sh', '-c', 'echo "hi there"; sleep 1']);
    assert.deepEqual(splitCommandLine('a\\ b "c d" e'), ['a b', 'c d', 'e']);
    assert.throws(() => splitCommandLine('echo "open'), /unterminated/);
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
  it('maps workload states to Nova power states, a frozen suspended instance to SUSPENDED', () => {
    assert.equal(powerStateOf(null), PowerState.NOSTATE);
    assert.equal(powerStateOf(c('running')), PowerState.RUNNING);
    assert.equal(powerStateOf(c('paused')), PowerState.PAUSED);
    assert.equal(powerStateOf(c('exited')), PowerState.SHUTDOWN);
    assert.equal(powerStateOf(c('dead')), PowerState.CRASHED);
    assert.equal(powerStateFor({ uuid: UUID, state: PowerState.PAUSED }, 'suspended'), PowerState.SUSPENDED);
    assert.equal(powerStateFor({ uuid: UUID, state: PowerState.PAUSED }, 'paused'), PowerState.PAUSED);
    assert.equal(powerStateFor(null, 'active'), PowerState.NOSTATE);
  });
});
