// The committed facts files must be exactly what the documented derivation makes from the real captures.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { derivedFacts, factsFile } from '../../helpers/derive-facts.js';

for (const [name, facts] of Object.entries(derivedFacts())) {
  test(`profiles/facts/${name}.json matches its derivation (run npm run fixtures after changing it)`, () => {
    assert.deepEqual(JSON.parse(readFileSync(factsFile(name), 'utf8')), JSON.parse(JSON.stringify(facts)));
  });
}
