import base from '../eslint.config.js';

export default [...base, { ignores: ['cluster/standins/**', 'cluster/build/**', 'cluster/linkerd-chart/**'] }];
