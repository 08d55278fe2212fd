import { jestConfig } from '../../jest.preset.js';

// The preset writes its relative-import mapper as '^(\.{1,2}/.*)\.js$' inside a JS string, where
// '\.' is just '.', so it also rewrites './x.cjs' (required inside prom-client's dependencies).
// Replace it with the escaped form here until the preset is fixed.
const config = jestConfig('webhook');
const mappers = Object.fromEntries(Object.entries(config.moduleNameMapper).filter(([from]) => from !== '^(.{1,2}/.*).js$'));

export default { ...config, moduleNameMapper: { '^(\\.{1,2}/.*)\\.js$': '$1', ...mappers } };
