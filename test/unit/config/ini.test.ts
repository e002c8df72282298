import { strict as assert } from 'node:assert';
import { parseIni } from '../../../src/config/ini.js';

describe('oslo INI parser', () => {
  it('handles comments, colons, quotes, continuation lines and repeated keys', () => {
    const s = parseIni('# c\n[a]\nx = 1\ny: "two words"\nz = first\n  second\n; c2\nm = 1\nm = 2\n', 'f');
    const a = s.get('a')!;
    assert.deepEqual(a.get('x')!.values, ['1']);
    assert.deepEqual(a.get('y')!.values, ['two words']);
    assert.deepEqual(a.get('z')!.values, ['first\nsecond']);
    assert.deepEqual(a.get('m')!.values, ['1', '2']);
    assert.equal(a.get('m')!.line, 9);
  });

  it('rejects an option before any section', () => {
    assert.throws(() => parseIni('x = 1\n', 'f.conf'), /f.conf:1: option outside any \[section\]/);
  });
});
