const ms = require('ms');
const leftPad = require('left-pad');

module.exports = function describe(milliseconds) {
  return leftPad(ms(milliseconds), 8);
};
