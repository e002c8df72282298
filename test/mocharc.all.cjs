module.exports = {
  spec: ['dist/test/unit/**/*.test.js', 'dist/test/integration/**/*.test.js'],
  reporter: 'test/reporter.cjs',
  timeout: 300000,
};
