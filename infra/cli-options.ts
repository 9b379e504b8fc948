// Option parsers shared by the infra commands (soak, simulate): a bad value names the option and what it takes.
import { InvalidArgumentError } from 'commander';

export const wholeNumber = (name: string, min: number, max: number) => (v: string) => {
  const n = Number(v);
  if (!Number.isInteger(n) || n < min || n > max)
    throw new InvalidArgumentError(`${name} must be a whole number from ${min} to ${max}`);
  return n;
};
