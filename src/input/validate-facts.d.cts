// What scripts/validators.ts generates at build time (dist/src/input/validate-facts.cjs): Ajv's
// standalone validator of the facts schema, called like a compiled Ajv schema.
import type { ValidateFunction } from 'ajv';

export declare const validate: ValidateFunction;
