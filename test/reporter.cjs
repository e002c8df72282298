// Mocha's spec reporter plus one plain closing line ("tests: N passed, N failed, N skipped")
// that CI reads to know how many tests ran.
'use strict';
const Mocha = require('mocha');
const { Spec } = Mocha.reporters;

class CountingSpec extends Spec {
  constructor(runner, options) {
    super(runner, options);
    runner.once('end', () => {
      const s = runner.stats || {};
      process.stdout.write(`tests: ${s.passes || 0} passed, ${s.failures || 0} failed, ${s.pending || 0} skipped\n`);
    });
  }
}
module.exports = CountingSpec;
