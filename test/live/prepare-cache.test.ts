import { buildSchema, type ValidationRule } from 'graphql';
import { describe, expect, it } from 'vitest';
import { createLiveOperations } from '../../src/live/operations.js';
import { createLogger } from '../../src/logger.js';

const SCHEMA = buildSchema('type Query { a: Int } type Subscription { tick: Int, tock: Int }');

/** The live operations of a gateway without upstreams, with one more validation rule that counts its runs. */
function operationsCountingValidations(): { prepare: ReturnType<typeof createLiveOperations>['prepare']; validations: () => number } {
  let validations = 0;
  const counting: ValidationRule = () => {
    validations++;
    return {};
  };
  const operations = createLiveOperations({
    ownSchema: SCHEMA,
    gateway: undefined,
    upstreams: undefined,
    parseOptions: { maxTokens: 1_000 },
    validationRules: [counting],
    maxBuffered: 10,
    logger: createLogger('silent'),
  });
  return { prepare: (request) => operations.prepare(request), validations: () => validations };
}

describe('preparing live operations', () => {
  it('validates a document once however often it is subscribed, and each new text once', () => {
    const { prepare, validations } = operationsCountingValidations();
    const first = prepare({ query: 'subscription { tick }' });
    for (let index = 0; index < 99; index++) expect(prepare({ query: 'subscription { tick }' })).toEqual(first);
    expect(validations()).toBe(1);
    prepare({ query: 'subscription { tock }' });
    expect(validations()).toBe(2);
  });

  it('refuses an invalid document every time with GRAPHQL_VALIDATION_FAILED, and a syntax error with GRAPHQL_PARSE_FAILED', () => {
    const { prepare, validations } = operationsCountingValidations();
    for (let index = 0; index < 3; index++) {
      const refused = prepare({ query: 'subscription { nope }' });
      expect(Array.isArray(refused) && refused.map((error) => error.extensions['code'])).toEqual(['GRAPHQL_VALIDATION_FAILED']);
      const broken = prepare({ query: 'subscription { tick ' });
      expect(Array.isArray(broken) && broken.map((error) => error.extensions['code'])).toEqual(['GRAPHQL_PARSE_FAILED']);
    }
    expect(validations()).toBe(3);
  });
});
