// Only the oslo.messaging integration tests (real RabbitMQ + real Python oslo.messaging):
//   npx tsc -p tsconfig.json && npx mocha --config test/integration/rpc/mocharc.cjs
// NC_TEST_RABBITMQ_PORT=5699 runs them on a private broker node the helper starts (and may restart).
module.exports = {
  spec: ['dist/test/integration/rpc/**/*.test.js'],
  reporter: 'test/reporter.cjs',
  timeout: 300000,
};
