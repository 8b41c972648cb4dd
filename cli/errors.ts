/** A problem to print for the user as is (no stack), exiting with status 1. */
export class CliError extends Error {}
