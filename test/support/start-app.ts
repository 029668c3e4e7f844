/** The smallest app a device accepts: (module (func (export "_start")) (memory (export "memory") 1)). */
export const START_APP = Buffer.from(
  '0061736d01000000' +
    '010401600000' +
    '03020100' +
    '0503010001' +
    '071302065f7374617274000006' +
    Buffer.from('memory').toString('hex') +
    '0200' +
    '0a040102000b',
  'hex',
);
