/** Experiment trace logs (Parea wire format): the pure core. */
export * from './span.js';
export * from './tree.js';
export * from './filter.js';
