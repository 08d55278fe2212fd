// Lint of the chart's jest test project (the root config ignores charts/** for the chart files themselves).
import base from '../../eslint.config.js';

export default [...base, { ignores: ['templates/**', 'files/**', 'tools/**'] }];
