// The one table of the objects linkerd-rotator reads, writes and guards: each name's CLI flag,
// environment variable (the chart's ConfigMap contract), default and chart value, for both apps.
export * from './names.js';
