// Mocha's spec reporter plus one plain closing line ("tests: N passed, N failed, N skipped")
// that CI reads to know how many tests ran. Under test/run-all.sh (several mocha runs) each run
// appends its counts to $NC_TEST_COUNTS instead, and run-all.sh prints the one line for all,
// after the titles of the tests that failed in any run (appended to $NC_TEST_FAILURES), so that
// the tail of a CI log, which is all CI shows, names them.
'use strict';
const fs = require('node:fs');
const Mocha = require('mocha');
const { Spec } = Mocha.reporters;

class CountingSpec extends Spec {
  constructor(runner, options) {
    super(runner, options);
    // each file's top-level suite closes with its wall time, hooks included: where a CI run's time goes
    const started = new Map();
    runner.on('suite', (suite) => { if (suite.parent && suite.parent.root) started.set(suite, Date.now()); });
    runner.on('suite end', (suite) => {
      if (!started.has(suite)) return;
      process.stdout.write(`  (${suite.title}: ${((Date.now() - started.get(suite)) / 1000).toFixed(0)} s)\n`);
    });
    const failed = [];
    runner.on('fail', (test, err) => {
      const reason = String((err && err.message) || err).split('\n')[0].slice(0, 300);
      failed.push(`failed: ${test.fullTitle()}: ${reason}\n`);
    });
    runner.once('end', () => {
      if (process.env.NC_TEST_FAILURES && failed.length) fs.appendFileSync(process.env.NC_TEST_FAILURES, failed.join(''));
      const s = runner.stats || {};
      const counts = [s.passes || 0, s.failures || 0, s.pending || 0];
      if (process.env.NC_TEST_COUNTS) fs.appendFileSync(process.env.NC_TEST_COUNTS, `${counts.join(' ')}\n`);
      else process.stdout.write(`tests: ${counts[0]} passed, ${counts[1]} failed, ${counts[2]} skipped\n`);
    });
  }
}
module.exports = CountingSpec;
