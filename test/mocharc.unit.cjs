module.exports = {
  spec: ['dist/test/unit/**/*.test.js'],
  reporter: 'test/reporter.cjs',
  timeout: 10000,
};
