/** A command line the CLIs refuse (exit 2, with the usage): thrown while parsing, caught where the usage is printed. */
export class UsageError extends Error {}
