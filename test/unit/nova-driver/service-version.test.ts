/**
 * The service version this host reports on each control plane. Expectations come from the
 * release facts below (Nova's SERVICE_VERSION of each release, the lowest compute version it
 * accepts, the compute RPC version each service version implies) and the rule: the highest version this host implements that the control
 * plane accepts, never above the conductor's, never below the cell's lowest compute.
 */
import { strict as assert } from 'node:assert';
import {
  chooseServiceVersion, parseServiceVersionOption, ServiceVersionRefused, SERVICE_VERSIONS, type VersionInputs,
} from '../../../src/nova-driver/service-version.js';

/** Lowest nova-compute version accepted by a control plane whose services are at this version (OLDEST_SUPPORTED's alias). */
const LOWEST_ACCEPTED: Record<number, number> = {
  61: 57, // Yoga: Xena
  62: 61, 63: 61, 64: 61, // Zed (and its development versions): Yoga
  65: 61, 66: 66, // 2023.1 under development: Yoga; 66 is both 2023.1 (Yoga, 61) and 2023.2 (Antelope, 66): the stricter
  67: 66, 68: 66, // 2024.1, 2024.2, 2025.1: Antelope/Caracal, 66
  69: 68, 70: 68, 71: 68, 72: 68, // 2025.2 and 2026.1 (with its development version 71): Epoxy, 68
  73: 72, // master after 2026.1: Gazpacho
};

/** Compute RPC version per service version (SERVICE_VERSION_HISTORY's compute_rpc). */
const COMPUTE_RPC: Record<number, string> = { 64: '6.1', 65: '6.1', 66: '6.2', 67: '6.3', 68: '6.4', 69: '6.4', 70: '6.4' };

const inputs = (over: Partial<VersionInputs>): VersionInputs => ({ conductor: 68, minCompute: 0, ownRecord: null, forced: null, ...over });

function refusal(fn: () => unknown): ServiceVersionRefused {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof ServiceVersionRefused, `expected ServiceVersionRefused, got ${String(err)}`);
    assert.ok(!err.message.includes('\n'), 'one line');
    return err;
  }
  assert.fail('not refused');
}

describe('service version choice', () => {
  for (let conductor = 61; conductor <= 73; conductor++) {
    const accepted = [...SERVICE_VERSIONS.keys()].filter((v) => v >= LOWEST_ACCEPTED[conductor] && v <= conductor);
    const expected = accepted.length > 0 ? Math.max(...accepted) : null;
    it(`control plane at ${conductor}: ${expected === null ? 'refused' : `reports ${expected}`}`, () => {
      if (expected === null) {
        const err = refusal(() => chooseServiceVersion(inputs({ conductor })));
        assert.match(err.message, new RegExp(`\\b${conductor}\\b`));
        return;
      }
      const choice = chooseServiceVersion(inputs({ conductor }));
      assert.equal(choice.version, expected);
      assert.equal(choice.rpcVersion, COMPUTE_RPC[expected]);
      assert.equal(choice.warning, undefined);
    });
  }

  it('reports the RPC version each implemented service version implies', () => {
    assert.deepEqual(Object.fromEntries(SERVICE_VERSIONS), COMPUTE_RPC);
  });

  it('a cell whose lowest compute is this host\'s own old record (64, before an upgrade) does not hold it back', () => {
    assert.equal(chooseServiceVersion(inputs({ conductor: 66, minCompute: 64, ownRecord: 64 })).version, 66);
    assert.equal(chooseServiceVersion(inputs({ conductor: 70, minCompute: 68, ownRecord: 68 })).version, 70);
  });

  it('never below the cell\'s lowest compute: a compute above what it may report is refused with the versions named', () => {
    const err = refusal(() => chooseServiceVersion(inputs({ conductor: 67, minCompute: 68 })));
    assert.match(err.message, /lowest nova-compute version is 68, above 67/);
    const newer = refusal(() => chooseServiceVersion(inputs({ conductor: 72, minCompute: 72 })));
    assert.match(newer.message, /72.*above 70/);
  });

  it('a cell without a recorded conductor is refused and told to set the option', () => {
    assert.match(refusal(() => chooseServiceVersion(inputs({ conductor: 0 }))).message, /\[container\] service_version/);
  });

  it('a control plane too new names its lowest accepted version and ours', () => {
    assert.match(refusal(() => chooseServiceVersion(inputs({ conductor: 80 }))).message, /at service version 80 and accepts nova-compute 72 or newer; this host implements up to 70/);
  });

  it('a forced version is reported as is within the window, without a warning', () => {
    const choice = chooseServiceVersion(inputs({ conductor: 68, minCompute: 66, forced: 66 }));
    assert.deepEqual([choice.version, choice.rpcVersion, choice.warning], [66, '6.2', undefined]);
    assert.match(choice.reason, /forced/);
  });

  it('a forced version outside what the control plane accepts is reported with a warning saying why', () => {
    const above = chooseServiceVersion(inputs({ conductor: 66, forced: 68 }));
    assert.equal(above.version, 68);
    assert.match(above.warning ?? '', /above the conductor's 66/);
    const below = chooseServiceVersion(inputs({ conductor: 72, forced: 66 }));
    assert.equal(below.version, 66);
    assert.match(below.warning ?? '', /below 68/);
  });

  it('a forced version below the cell\'s lowest compute is refused, naming this host\'s own record when it is that minimum', () => {
    const err = refusal(() => chooseServiceVersion(inputs({ conductor: 70, minCompute: 68, ownRecord: 68, forced: 66 })));
    assert.match(err.message, /service_version 66 is below the cell's lowest nova-compute version 68 \(this host's own record/);
    const other = refusal(() => chooseServiceVersion(inputs({ conductor: 70, minCompute: 68, ownRecord: 70, forced: 66 })));
    assert.ok(!other.message.includes('own record'));
  });
});

describe('[container] service_version', () => {
  it('auto (any case) or an implemented version', () => {
    assert.equal(parseServiceVersionOption('auto'), null);
    assert.equal(parseServiceVersionOption('AUTO'), null);
    for (const v of SERVICE_VERSIONS.keys()) assert.equal(parseServiceVersionOption(` ${v} `), v);
  });

  it('anything else says what is allowed', () => {
    for (const bad of ['', '63', '71', '6.4', '68a', 'zed']) {
      assert.throws(() => parseServiceVersionOption(bad), { message: 'must be auto or a service version from 64 to 70' }, bad);
    }
  });
});
