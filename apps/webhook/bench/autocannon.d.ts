// Minimal types for the parts of autocannon that bench/load.mjs uses (it ships no types).
// Only needed so the bench folder typechecks.
declare module 'autocannon';
