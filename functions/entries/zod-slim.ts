/**
 * What the Lambda bundles get for `import { z } from 'zod'` (infra/bundling.ts aliases `zod` to
 * this file; type checking, tests and the embedded server use zod itself). zod's `z` namespace also
 * carries every locale's messages and the JSON Schema converters, about 300 KiB of a bundle that
 * esbuild cannot shake off a namespace; this `z` carries only the members the application calls.
 * The messages are zod's English ones either way (zod's schemas module configures them).
 * test/infra/bundling.test.ts fails when code calls a member missing here.
 */
import {
  array,
  boolean,
  coerce,
  custom,
  enum as enumeration,
  NEVER,
  number,
  object,
  preprocess,
  string,
  unknown,
  url,
  ZodType,
} from '../../node_modules/zod/v4/classic/external.js';

export const z = { array, boolean, coerce, custom, enum: enumeration, NEVER, number, object, preprocess, string, unknown, url, ZodType };
export default z;
