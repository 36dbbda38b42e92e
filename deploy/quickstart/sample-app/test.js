const assert = require('assert');
const describe = require('./index');

assert.strictEqual(describe(60000).trim(), '1m');
console.log('1 passed');
