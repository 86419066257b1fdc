// What scripts/validators.ts generates at build time (dist/src/profile/validators.cjs): Ajv's
// standalone validators of the two YAML schemas, called like a compiled Ajv schema.
import type { ValidateFunction } from 'ajv';

export declare const validateProfile: ValidateFunction;
export declare const validateInventory: ValidateFunction;
