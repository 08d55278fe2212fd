// Root jest entry used by `npm test`: every unit project in one run (Nx runs them per project too).
export default {
  projects: ['<rootDir>/libs/*', '<rootDir>/apps/*', '<rootDir>/charts/*'],
};
