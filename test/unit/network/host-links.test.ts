/**
 * HostLinks.deleteIfExists on a fake host: a device the kernel takes away while it is deleted
 * (a veth pair goes with the namespace of either end) is gone, as asked; a delete that fails on
 * a device still there is an error.
 */
import { strict as assert } from 'node:assert';
import { CommandFailed, HostLinks, type Exec } from '../../../src/network/host-links.js';

/** A host with device `tap1` until `ip link del` runs; the delete then fails as `deleteAnswer` says. */
function host(deleteAnswer: 'gone meanwhile' | 'refused'): { exec: Exec; calls: string[] } {
  let present = true;
  const calls: string[] = [];
  const exec: Exec = async (file, args) => {
    calls.push(`${file} ${args.join(' ')}`);
    if (args[0] === '-j') {
      if (present) return JSON.stringify([{ ifname: 'tap1', ifindex: 7 }]);
      throw new CommandFailed(file, args, 'Device "tap1" does not exist.', false);
    }
    if (deleteAnswer === 'gone meanwhile') {
      present = false;
      throw new CommandFailed(file, args, 'Cannot find device "tap1"', false);
    }
    throw new CommandFailed(file, args, 'RTNETLINK answers: Operation not permitted', false);
  };
  return { exec, calls };
}

describe('HostLinks.deleteIfExists', () => {
  it('a device that goes while it is deleted (Cannot find device) is deleted, as asked', async () => {
    const h = host('gone meanwhile');
    await new HostLinks(h.exec).deleteIfExists('tap1');
    assert.deepEqual(h.calls, ['ip -j -d link show dev tap1', 'ip link del tap1', 'ip -j -d link show dev tap1']);
  });

  it('a delete refused on a device that is still there is an error naming it', async () => {
    await assert.rejects(new HostLinks(host('refused').exec).deleteIfExists('tap1'), /ip link del tap1: .*Operation not permitted/);
  });
});
