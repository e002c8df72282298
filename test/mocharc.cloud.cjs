// Integration runs of test/run-all.sh: it names the spec files of each release's run.
module.exports = {
  reporter: 'test/reporter.cjs',
  timeout: 300000,
  bail: false,
};
