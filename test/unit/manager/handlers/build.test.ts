/**
 * build_and_run_instance against in-memory fakes: the saves and task states Nova's
 * _do_build_and_run_instance makes, and every failure path ending in ERROR with nothing left
 * behind, or, when the user deleted the instance meanwhile, cleaned up without a fault.
 */
import { strict as assert } from 'node:assert';
import { buildAndRunInstance } from '../../../../src/nova-driver/manager/build.js';
import { PowerState, TaskState, VmState } from '../../../../src/nova-driver/manager/states.js';
import type { NovaObject } from '../../../../src/nova-driver/objects/versioned-object.js';
import { argsFor, fakeCompute, HOST, networkRequestList, type FakeCompute, type FakeComputeOptions } from '../../../helpers/fake-compute.js';

const IMAGE = { id: 'img-1', name: 'alpine', properties: {} };

/** An instance as the conductor casts it for a build: BUILD, scheduling, no host yet. */
function building(c: FakeCompute): NovaObject {
  return c.addInstance({ vm_state: VmState.BUILDING, task_state: TaskState.SCHEDULING, host: null, node: null, power_state: PowerState.NOSTATE }, null);
}

function build(c: FakeCompute, inst: NovaObject, networks: string[] = []): Promise<void> {
  return buildAndRunInstance(c.deps, c.ctx, argsFor(inst, {
    image: IMAGE, requested_networks: networkRequestList(...(networks.length ? networks : ['none'])), security_groups: ['default'],
  }));
}

/** What a failed build must leave: nothing on the host, no ports, no allocation, a fault, ERROR. */
function assertFailedBuild(c: FakeCompute, uuid: string, fault: RegExp): void {
  assert.deepEqual(c.driver.callsOf('destroy').map(([u]) => u), [uuid], 'what the spawn made is destroyed');
  assert.equal(c.driver.instances.has(uuid), false);
  assert.deepEqual(c.ports.callsOf('deallocate').map(([u]) => u), [uuid], 'ports released');
  assert.equal(c.ports.byInstance.has(uuid), false);
  assert.equal(c.placement.allocations.has(uuid), false, 'allocation given back');
  assert.equal(c.store.faults.length, 1);
  assert.match(String((c.store.faults[0].error as Error).message), fault);
  const record = c.store.record(uuid);
  assert.equal(record.get('vm_state'), VmState.ERROR);
  assert.equal(record.get('task_state'), null);
  assert.equal(record.get('host'), null);
}

describe('build_and_run_instance', () => {
  it('without networks: BUILD on this host and spawning in one save, then ACTIVE and running', async () => {
    const c = fakeCompute();
    const inst = building(c);
    const uuid = inst.str('uuid');
    await build(c, inst);
    const saves = c.store.savesOf(uuid);
    assert.deepEqual(saves.map((s) => s.expected), [[TaskState.SCHEDULING, null], [TaskState.SPAWNING]]);
    assert.deepEqual(saves[0].fields, { vm_state: VmState.BUILDING, task_state: TaskState.SPAWNING, host: HOST, node: HOST, launched_on: HOST });
    assert.equal(saves[1].fields.vm_state, VmState.ACTIVE);
    assert.equal(saves[1].fields.power_state, PowerState.RUNNING);
    assert.equal(saves[1].fields.task_state, null);
    assert.equal(typeof saves[1].fields.launched_at, 'string');
    assert.equal(c.ports.callsOf('allocate').length, 0);
    assert.equal(c.driver.instances.get(uuid)?.state, PowerState.RUNNING);
    assert.deepEqual(c.store.actionEvents.map((e) => `${e.phase}:${e.event}`),
      ['start:compute__do_build_and_run_instance', 'finish:compute__do_build_and_run_instance']);
    assert.equal(c.store.faults.length, 0);
    assert.equal(c.scheduler.callsOf('updateInstanceInfo').length, 1);
    const flavor = inst.obj('flavor')!;
    const usage = c.hostUsage();
    assert.deepEqual([usage.vcpus, usage.memoryMb, usage.stats.num_instances, usage.stats.num_vm_active],
      [flavor.get('vcpus'), flavor.get('memory_mb'), '1', '1'], 'the built instance\'s usage is recorded');
  });

  it('with networks: networking, then spawning; the spawn gets the allocated VIFs and waits for their plug events', async () => {
    const c = fakeCompute();
    const inst = building(c);
    const uuid = inst.str('uuid');
    await build(c, inst, ['net-a', 'net-b']);
    assert.deepEqual(c.store.taskStates(uuid), [null, TaskState.NETWORKING, TaskState.SPAWNING, null]);
    assert.deepEqual(c.store.savesOf(uuid).map((s) => s.expected), [[TaskState.SCHEDULING, null], [null], [TaskState.NETWORKING], [TaskState.SPAWNING]]);
    const [[ref, requests, groups]] = c.ports.callsOf('allocate');
    assert.equal(ref.uuid, uuid);
    assert.deepEqual(requests.map((r) => r.networkId), ['net-a', 'net-b']);
    assert.deepEqual(groups, ['default']);
    const allocated = c.ports.byInstance.get(uuid)?.map((v) => v.id);
    assert.equal(allocated?.length, 2);
    const [[req]] = c.driver.callsOf('spawn');
    assert.deepEqual((await req.networkInfo).map((v) => v.id), allocated);
    assert.equal(req.waitForVifs, true);
    assert.deepEqual(c.driver.instances.get(uuid)?.vifs.map((v) => v.id), allocated, 'plugged');
    const cache = c.conductor.actions('InstanceInfoCache').at(-1);
    assert.deepEqual((JSON.parse(String(cache?.network_info)) as { id: string }[]).map((v) => v.id), allocated, 'info cache saved');
    assert.equal(c.events.size, 0);
    assert.equal(c.store.record(uuid).get('vm_state'), VmState.ACTIVE);
  });

  const failures: { name: string; options?: FakeComputeOptions; arrange(c: FakeCompute): void; fault: RegExp }[] = [
    { name: 'the image cannot be had', arrange: (c) => c.images.fail('ensureImage', new Error('Glance is down')), fault: /Glance is down/ },
    { name: 'ports cannot be allocated', arrange: (c) => c.ports.fail('allocate', new Error('no free address on net-a')), fault: /no free address/ },
    {
      name: 'the spawn fails after making part of the instance',
      arrange: (c) => c.driver.on('spawn', (req) => {
        c.driver.add(req.instance.uuid, { state: PowerState.NOSTATE });
        throw new Error('engine refused the workload');
      }),
      fault: /engine refused the workload/,
    },
    {
      name: 'Neutron never reports the VIFs plugged (fatal vif_plugging_timeout)',
      options: { neutronReportsPlugs: false, vifPlugTimeout: 0.05 },
      arrange: () => undefined,
      fault: /vif_plugging_timeout/,
    },
  ];
  for (const f of failures) {
    it(`fails cleanly when ${f.name}: fault, ERROR, allocation deleted, destroyed, ports released`, async () => {
      const c = fakeCompute(f.options);
      const inst = building(c);
      f.arrange(c);
      await assert.rejects(build(c, inst, ['net-a']), { name: 'BuildAbortException' });
      assertFailedBuild(c, inst.str('uuid'), f.fault);
      assert.equal(c.events.size, 0, 'no waiter left behind');
    });
  }

  it('a failed build destroys the VIFs its spawn plugged', async () => {
    const c = fakeCompute({ neutronReportsPlugs: false, vifPlugTimeout: 0.05 });
    const inst = building(c);
    const uuid = inst.str('uuid');
    let plugged: string[] = [];
    c.driver.on('destroy', () => { plugged = c.driver.instances.get(uuid)?.vifs.map((v) => v.id) ?? []; });
    await assert.rejects(build(c, inst, ['net-a']), /vif_plugging_timeout/);
    const [[, vifs]] = c.driver.callsOf('destroy');
    assert.equal(plugged.length, 1);
    assert.deepEqual(vifs.map((v) => v.id), plugged);
  });

  it('a vif_plugging_timeout that is not fatal lets the build go on', async () => {
    const c = fakeCompute({ neutronReportsPlugs: false, vifPlugTimeout: 0.05, vifPlugFatal: false });
    const inst = building(c);
    await build(c, inst, ['net-a']);
    assert.equal(c.store.record(inst.str('uuid')).get('vm_state'), VmState.ACTIVE);
    assert.equal(c.events.size, 0);
  });

  it('a host without [neutron] credentials fails a build that asks for networks, without spawning anything', async () => {
    const c = fakeCompute({ neutron: false });
    const inst = building(c);
    await assert.rejects(build(c, inst, ['net-a']), /no \[neutron\] credentials/);
    assert.equal(c.driver.callsOf('spawn').length, 0);
    assert.equal(c.store.record(inst.str('uuid')).get('vm_state'), VmState.ERROR);
    assert.equal(c.placement.allocations.has(inst.str('uuid')), false);
  });

  it('the instance\'s usage counts from the build\'s first save; a failed build gives it back', async () => {
    const c = fakeCompute();
    const inst = building(c);
    let during: string | undefined;
    c.driver.on('spawn', async () => {
      await new Promise((r) => setTimeout(r, 20)); // the first save (host set) is made meanwhile
      during = c.hostUsage().stats.num_instances;
      throw new Error('the engine refused');
    });
    await assert.rejects(build(c, inst), /the engine refused/);
    assert.equal(during, '1', 'counted while it builds');
    assert.deepEqual([c.hostUsage().vcpus, c.hostUsage().stats.num_instances], [0, '0'], 'given back once it failed');
  });

  it('an image whose os_command_line cannot be split fails the build with a fault, never left in BUILD', async () => {
    const c = fakeCompute();
    const inst = building(c);
    const uuid = inst.str('uuid');
    await assert.rejects(buildAndRunInstance(c.deps, c.ctx, argsFor(inst, {
      image: { ...IMAGE, properties: { os_command_line: 'echo "hi' } }, requested_networks: networkRequestList('none'), security_groups: [],
    })), /unterminated " quote/);
    assert.equal(c.driver.callsOf('spawn').length, 0);
    assert.equal(c.store.record(uuid).get('vm_state'), VmState.ERROR);
    assert.match(String((c.store.faults[0]?.error as Error)?.message), /os_command_line/);
    assert.equal(c.placement.allocations.has(uuid), false);
  });

  const deletions: { name: string; del(c: FakeCompute, uuid: string): void }[] = [
    { name: 'task_state deleting (UnexpectedDeletingTaskStateError)', del: (c, uuid) => { c.store.record(uuid).set('task_state', TaskState.DELETING); } },
    { name: 'its record destroyed (InstanceNotFound)', del: (c, uuid) => c.store.remove(uuid) },
  ];
  for (const d of deletions) {
    it(`an instance deleted during its build (${d.name}) is cleaned up, without a fault or ERROR`, async () => {
      const c = fakeCompute();
      const inst = building(c);
      const uuid = inst.str('uuid');
      c.driver.on('spawn', () => d.del(c, uuid));
      await build(c, inst, ['net-a']);
      assert.deepEqual(c.driver.callsOf('destroy').map(([u]) => u), [uuid]);
      assert.equal(c.driver.instances.has(uuid), false);
      assert.deepEqual(c.ports.callsOf('deallocate').map(([u]) => u), [uuid]);
      assert.equal(c.store.faults.length, 0);
      assert.ok(!c.store.savesOf(uuid).some((s) => s.fields.vm_state === VmState.ERROR));
    });
  }
});
