module.exports = {
  spec: ['dist/test/integration/**/*.test.js'],
  reporter: 'test/reporter.cjs',
  timeout: 300000,
  bail: false,
};
